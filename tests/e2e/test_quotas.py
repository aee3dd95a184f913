"""Quotas, over gRPC against all of nobat: a patient keeps only so many checkouts waiting
for payment in each service, and a payment only so many attempts, each refusal
RESOURCE_EXHAUSTED with when to try again; nothing refused is held, stored or sent to the
gateway, and a checkout paid or expired makes room."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.payment.v1 import payment_service_pb2 as ppb

from tests.e2e.flows import AWAITING, CONFIRMED, EXPIRED, FAILED, GATEWAY, key, running_stack
from tests.e2e.test_consultation_flows import prices
from tests.instants import THURSDAY_NIGHT

pytestmark = pytest.mark.e2e
CONSULTATION_CHECKOUT_SECONDS = 4


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        THURSDAY_NIGHT,
        NOBAT_BOOKING_MAX_OPEN_CHECKOUTS="2",
        NOBAT_CONSULTATION_MAX_OPEN_CHECKOUTS="2",
        NOBAT_CONSULTATION_CHECKOUT_SECONDS=str(CONSULTATION_CHECKOUT_SECONDS),
        NOBAT_CONSULTATION_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_MAX_ATTEMPTS="2",
        NOBAT_PAYMENT_JOB_INTERVAL_SECONDS="0.3",
    ) as stack:
        yield stack


async def exhausted(call) -> tuple[float, list[str]]:
    """The call refused RESOURCE_EXHAUSTED: the delay its RetryInfo asks for, in seconds,
    and the subjects its QuotaFailure names."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value.details()
    status = rpc_status.from_call(refused.value)
    retry, quota = error_details_pb2.RetryInfo(), error_details_pb2.QuotaFailure()
    assert status is not None
    assert any(d.Unpack(retry) for d in status.details)
    assert any(d.Unpack(quota) for d in status.details)
    return retry.retry_delay.ToTimedelta().total_seconds(), [v.subject for v in quota.violations]


async def payments_of(patient) -> int:
    return len((await patient.payment.ListPayments(ppb.ListPaymentsRequest())).payments)


async def test_a_patient_at_the_booking_cap_is_refused_and_holds_nothing_until_one_is_paid(
    nobat,
):
    doctor = await nobat.new_doctor()
    [one, two, three, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()

    def asking_for(slot) -> bpb.StartCheckoutRequest:
        return bpb.StartCheckoutRequest(idempotency_key=key(), slot_id=slot.id, method=GATEWAY)

    first_request, third_request = asking_for(one), asking_for(three)
    first = (await patient.booking.StartCheckout(first_request)).checkout
    await nobat.book(patient, two.id)

    delay, subjects = await exhausted(patient.booking.StartCheckout(third_request))

    assert 0 < delay <= 600 and subjects == [f"patient:{patient.subject}"]
    assert three.id in [s.id for s in await nobat.free_slots(doctor)]
    assert await payments_of(patient) == 2
    # An accepted checkout asked for again with its key is answered as it was.
    assert (await patient.booking.StartCheckout(first_request)).checkout == first

    await nobat.pay(first)
    await nobat.checkout_until(patient, first.id, CONFIRMED)
    third = (await patient.booking.StartCheckout(third_request)).checkout
    assert third.status == AWAITING and third.slot_id == three.id


async def test_a_patient_at_the_consultation_cap_is_refused_until_one_expires(nobat):
    await prices(nobat)
    patient = nobat.patient()
    intake = cpb.StartIntakeRequest(
        idempotency_key=key(),
        complaint="A dry cough for four days",
        symptoms=[cpb.ReportedSymptom(code="cough", days_since_onset=4)],
        age_years=34,
        sex=cpb.SEX_FEMALE,
    )
    made, first = await nobat.chat_checkout(patient, intake)
    third_request = cpb.StartCheckoutRequest(
        idempotency_key=key(), intake_id=made.id, type=cpb.CONSULTATION_TYPE_CHAT, method=GATEWAY
    )
    await patient.consultation.StartCheckout(
        cpb.StartCheckoutRequest(
            idempotency_key=key(),
            intake_id=made.id,
            type=cpb.CONSULTATION_TYPE_CHAT,
            method=GATEWAY,
        )
    )

    delay, _ = await exhausted(patient.consultation.StartCheckout(third_request))

    assert 0 < delay <= CONSULTATION_CHECKOUT_SECONDS
    assert await payments_of(patient) == 2
    await nobat.checkout_until(patient, first.id, EXPIRED, context="consultation")
    third = (await patient.consultation.StartCheckout(third_request)).checkout
    assert third.status == AWAITING


async def test_a_checkout_whose_payment_is_out_of_attempts_is_refused_with_when_to_retry(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()
    checkout = await nobat.book(patient, slot.id)

    async def retry() -> bpb.Checkout:
        request = bpb.RetryCheckoutRequest(idempotency_key=key(), checkout_id=checkout.id)
        return (await patient.booking.RetryCheckout(request)).checkout

    await nobat.pay(checkout, "decline")
    await nobat.checkout_until(patient, checkout.id, FAILED)
    retried = await retry()
    await nobat.pay(retried, "decline")
    await nobat.checkout_until(patient, checkout.id, FAILED)
    sessions = (await nobat.sandbox.stats())["sessions"]

    delay, subjects = await exhausted(retry())

    assert 0 < delay <= 600 and subjects == [f"payment:{checkout.payment_id}"]
    assert (await nobat.sandbox.stats())["sessions"] == sessions
    reply = await patient.booking.GetCheckout(bpb.GetCheckoutRequest(checkout_id=checkout.id))
    assert reply.checkout.status == FAILED and reply.checkout.payment_failure.retryable
