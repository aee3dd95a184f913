"""How often a patient's calls reach the gateway, over gRPC against the sandbox: a loop of
ConfirmPayment reads a session once and is answered from the payment as stored, and a
payment out of attempts is refused RESOURCE_EXHAUSTED with when to try again."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nobat.payment.v1 import payment_service_pb2 as pb

from tests.component.payment.harness import key

PROCESSING, SUCCEEDED = pb.PAYMENT_STATUS_PROCESSING, pb.PAYMENT_STATUS_SUCCEEDED
# Reconciliation asks the gateway on its own schedule; kept out of the way here.
NO_RECONCILIATION = {
    "NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS": "3600",
    "NOBAT_PAYMENT_RECONCILE_EVERY_SECONDS": "3600",
}


def session_of(payment: pb.Payment) -> str:
    return payment.attempts[-1].gateway_ref


async def reads(sandbox) -> int:
    return (await sandbox.stats())["session_reads"]


@pytest.mark.payment_env(NOBAT_PAYMENT_GATEWAY_CHECK_SECONDS="3600", **NO_RECONCILIATION)
async def test_confirm_payment_in_a_loop_reads_the_gateway_once_and_answers_as_stored(
    payment, sandbox
):
    created = await payment.api().create()
    patient = payment.api("patient", "patient-1")

    async def confirm() -> pb.Payment:
        request = pb.ConfirmPaymentRequest(
            idempotency_key=key(), payment_id=created.id, gateway_ref=session_of(created)
        )
        return (await patient.ConfirmPayment(request)).payment

    assert (await confirm()).status == PROCESSING
    assert await reads(sandbox) == 1
    await sandbox.switches(drop=True)
    await sandbox.pay(session_of(created))

    answers = [await confirm() for _ in range(20)]

    assert {a.status for a in answers} == {PROCESSING}
    assert await reads(sandbox) == 1
    # The gateway's own word still moves the payment, and the loop then answers with it.
    await sandbox.switches(drop=False)
    await sandbox.resend(session_of(created))
    await payment.api().until(created.id, SUCCEEDED)
    assert (await confirm()).status == SUCCEEDED


def retry_info(error: grpc.aio.AioRpcError) -> tuple[float, list[str]]:
    """The delay RetryInfo asks for, in seconds, and the subjects QuotaFailure names."""
    status = rpc_status.from_call(error)
    retry, quota = error_details_pb2.RetryInfo(), error_details_pb2.QuotaFailure()
    assert status is not None
    assert any(d.Unpack(retry) for d in status.details)
    assert any(d.Unpack(quota) for d in status.details)
    return retry.retry_delay.ToTimedelta().total_seconds(), [v.subject for v in quota.violations]


@pytest.mark.payment_env(NOBAT_PAYMENT_MAX_ATTEMPTS="2", **NO_RECONCILIATION)
async def test_a_payment_out_of_attempts_is_refused_resource_exhausted_and_opens_no_session(
    payment, sandbox
):
    created = await payment.api().create()
    patient = payment.api("patient", "patient-1")
    accepted = pb.RetryPaymentRequest(idempotency_key=key(), payment_id=created.id)
    retried = (await patient.RetryPayment(accepted)).payment
    assert len(retried.attempts) == 2

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await patient.RetryPayment(
            pb.RetryPaymentRequest(idempotency_key=key(), payment_id=created.id)
        )

    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    delay, subjects = retry_info(refused.value)
    assert 0 < delay <= 600 and subjects == [f"payment:{created.id}"]
    assert (await sandbox.stats())["sessions"] == 2
    assert len((await payment.api().get(created.id)).attempts) == 2
    # The retry already accepted, asked again with its key, is answered as it was.
    assert (await patient.RetryPayment(accepted)).payment == retried
