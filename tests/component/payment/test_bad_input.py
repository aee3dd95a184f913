"""Bad input to the payment service: each a clear gRPC error naming what is wrong, and
nothing stored."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nobat.common.v1 import checkout_pb2
from nobat.payment.v1 import payment_service_pb2 as pb

from stack.local import LOCAL_APP
from tests.component.payment.harness import key, usd

GATEWAY = checkout_pb2.PAYMENT_METHOD_GATEWAY


def request(**changes) -> pb.CreatePaymentRequest:
    valid = pb.CreatePaymentRequest(
        idempotency_key=key(),
        purchase=pb.Purchase(kind="booking", ref=key()),
        patient_id="patient-1",
        amount=usd(10_000),
        lines=[
            pb.PayeeLine(payee_kind=pb.PAYEE_KIND_DOCTOR, payee_id="doctor-1", amount=usd(10_000))
        ],
        method=GATEWAY,
        return_url=f"{LOCAL_APP}/return",
    )
    for name, value in changes.items():
        if value is None:
            valid.ClearField(name)
        elif isinstance(value, list):
            del getattr(valid, name)[:]
            getattr(valid, name).extend(value)
        elif hasattr(value, "DESCRIPTOR"):
            getattr(valid, name).CopyFrom(value)
        else:
            setattr(valid, name, value)
    return valid


def doctor_line(amount: int, currency: str = "USD", **fields) -> pb.PayeeLine:
    return pb.PayeeLine(
        payee_kind=fields.pop("payee_kind", pb.PAYEE_KIND_DOCTOR),
        payee_id=fields.pop("payee_id", "doctor-1"),
        amount=usd(amount, currency),
        **fields,
    )


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    for detail in rpc_status.from_call(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    return []


CASES = {
    "zero amount": (
        dict(amount=usd(0), lines=[doctor_line(0)]),
        "amount.amount_minor",
    ),
    "negative amount": (
        dict(amount=usd(-500), lines=[doctor_line(-500)]),
        "amount.amount_minor",
    ),
    "beyond a sane maximum": (
        dict(amount=usd(10**15), lines=[doctor_line(10**15)]),
        "amount.amount_minor",
    ),
    "unknown currency": (
        dict(amount=usd(100, "XYZ"), lines=[doctor_line(100, "XYZ")]),
        "amount.currency",
    ),
    "lines in another currency": (
        dict(lines=[doctor_line(10_000, "EUR")]),
        "lines[0].amount",
    ),
    "lines not adding up": (dict(lines=[doctor_line(9_999)]), "lines"),
    "no amount": (dict(amount=None), "amount"),
    "no purchase": (dict(purchase=None), "purchase"),
    "malformed purchase kind": (
        dict(purchase=pb.Purchase(kind="Booking!", ref="x")),
        "purchase.kind",
    ),
    "oversized purchase ref": (
        dict(purchase=pb.Purchase(kind="booking", ref="r" * 500)),
        "purchase.ref",
    ),
    "no patient": (dict(patient_id=""), "patient_id"),
    "no method": (dict(method=checkout_pb2.PAYMENT_METHOD_UNSPECIFIED), "method"),
    "unknown payee kind": (
        dict(lines=[doctor_line(10_000, payee_kind=pb.PAYEE_KIND_UNSPECIFIED)]),
        "lines[0].payee_kind",
    ),
    "oversized description": (dict(description="d" * 5_000), "description"),
    "no idempotency key": (dict(idempotency_key=""), "idempotency_key"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_create_payment_requests_are_refused_and_store_nothing(payment, case):
    changes, field = CASES[case]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await payment.api().CreatePayment(request(**changes))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert field in violated_fields(refused.value)
    assert await payment.count("payments") == 0
    assert await payment.count("idempotency_keys") == 0


async def test_only_services_create_payments_and_only_admins_read_the_ledger(payment):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await payment.api("patient", "patient-1").CreatePayment(request())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await payment.api("doctor", "doctor-1").ListLedgerEntries(pb.ListLedgerEntriesRequest())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await payment.count("payments") == 0


async def test_a_service_acts_only_on_its_own_kind_of_purchase(payment, sandbox):
    """Consultation's token opens nothing of a booking's payment: it can neither create
    one, nor see, retry or list one; confirming and refunding are no service's calls."""
    booking = await payment.api().create()
    await sandbox.pay(booking.attempts[-1].gateway_ref)
    paid = await payment.api().until(booking.id, pb.PAYMENT_STATUS_SUCCEEDED)
    consultation = payment.api("service", "consultation")

    async def code_of(call) -> grpc.StatusCode:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        return refused.value.code()

    assert await code_of(consultation.CreatePayment(request())) == grpc.StatusCode.PERMISSION_DENIED
    found = grpc.StatusCode.NOT_FOUND
    assert await code_of(consultation.get(booking.id)) == found
    retry = pb.RetryPaymentRequest(idempotency_key=key(), payment_id=booking.id)
    assert await code_of(consultation.RetryPayment(retry)) == found
    confirm = pb.ConfirmPaymentRequest(idempotency_key=key(), payment_id=booking.id)
    denied = grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(consultation.ConfirmPayment(confirm)) == denied
    refund = pb.RefundPaymentRequest(
        idempotency_key=key(), payment_id=booking.id, reason="requested_by_customer"
    )
    assert await code_of(consultation.RefundPayment(refund)) == grpc.StatusCode.PERMISSION_DENIED
    listed = pb.ListPaymentsRequest(purchase_kind="booking")
    assert await code_of(consultation.ListPayments(listed)) == grpc.StatusCode.PERMISSION_DENIED
    assert (await consultation.ListPayments(pb.ListPaymentsRequest())).payments == []
    assert await payment.count("payments") == 1 and await payment.count("refunds") == 0
    assert (await payment.api().get(booking.id)).status == paid.status


async def test_unknown_payments_and_malformed_page_tokens(payment):
    api = payment.api()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.get("no-such-payment")
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.ListPayments(pb.ListPaymentsRequest(page_token="!!garbage!!"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in violated_fields(refused.value)


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        (pb.ListDisputesRequest(status=99), "status"),
        (pb.ListDisputesRequest(page_token="!!garbage!!"), "page_token"),
        (pb.ListDisputesRequest(page_size=-1), "page_size"),
    ],
)
async def test_a_bad_dispute_listing_names_its_field_and_only_admins_list(payment, asked, field):
    admin = payment.api("admin", "ops")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.ListDisputes(asked)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violated_fields(refused.value)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await payment.api("patient", "patient-1").ListDisputes(pb.ListDisputesRequest())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await admin.ListDisputes(pb.ListDisputesRequest())).disputes == []


async def test_a_refund_without_a_reason_code_is_refused(payment, sandbox):
    created = await payment.api().create()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await payment.api("admin", "ops").RefundPayment(
            pb.RefundPaymentRequest(idempotency_key=key(), payment_id=created.id, reason="")
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reason" in violated_fields(refused.value)
    assert await payment.count("refunds") == 0


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (usd(1_500_000, "IRR"), "does not take IRR"),
        (usd(49), "takes at least 0.50 USD"),
    ],
)
async def test_an_amount_the_gateway_cannot_take_is_a_precondition_the_patient_can_read(
    payment, sandbox, amount, words
):
    """Refused at creation, before the gateway is asked: no session, no payment kept."""
    sessions = (await sandbox.stats())["sessions"]
    lines = [doctor_line(amount.amount_minor, amount.currency)]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await payment.api().CreatePayment(request(amount=amount, lines=lines))

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert words in refused.value.details()
    details = rpc_status.from_call(refused.value).details
    info, failure = error_details_pb2.ErrorInfo(), error_details_pb2.PreconditionFailure()
    assert [detail.Unpack(info) for detail in details if detail.Is(info.DESCRIPTOR)] == [True]
    assert [detail.Unpack(failure) for detail in details if detail.Is(failure.DESCRIPTOR)] == [True]
    assert (info.reason, info.metadata["currency"]) == ("GATEWAY_REFUSES_AMOUNT", amount.currency)
    assert [(v.subject, v.description) for v in failure.violations] == [
        (f"currency:{amount.currency}", refused.value.details())
    ]
    assert await payment.count("payments") == 0
    assert (await sandbox.stats())["sessions"] == sessions
