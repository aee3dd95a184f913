"""Wallets, refunds and purchases rejected after payment, with the real service, gateway
and stream."""

from __future__ import annotations

import grpc
import pytest
from grpc_status import rpc_status
from nobat.common.v1 import checkout_pb2
from nobat.payment.v1 import events_pb2
from nobat.payment.v1 import payment_service_pb2 as pb

from runtime.events import BOOKING
from tests.component.payment.harness import key, publish_as, usd

SUCCEEDED = pb.PAYMENT_STATUS_SUCCEEDED
WALLET = checkout_pb2.PAYMENT_METHOD_WALLET
GATEWAY = checkout_pb2.PAYMENT_METHOD_GATEWAY


async def paid_payment(payment, sandbox, amount: int = 10_000, patient: str = "patient-1"):
    api = payment.api()
    created = await api.create(amount=amount, patient=patient)
    await sandbox.pay(created.attempts[-1].gateway_ref)
    return await api.until(created.id, SUCCEEDED)


async def balance(payment, patient: str = "patient-1") -> dict[str, int]:
    wallet = (await payment.api("patient", patient).GetWallet(pb.GetWalletRequest())).wallet
    return {m.currency: m.amount_minor for m in wallet.balances}


def shortfall_of(error: grpc.aio.AioRpcError) -> pb.WalletShortfall:
    status = rpc_status.from_call(error)
    for detail in status.details:
        if detail.Is(pb.WalletShortfall.DESCRIPTOR):
            found = pb.WalletShortfall()
            detail.Unpack(found)
            return found
    raise AssertionError(f"no WalletShortfall in {status}")


async def test_a_short_wallet_is_topped_up_then_pays_and_is_refunded_to_it(
    payment, sandbox, events
):
    api = payment.api()
    ref = key()
    with pytest.raises(grpc.aio.AioRpcError) as short:
        await api.create(amount=5_000, method=WALLET, ref=ref)
    assert short.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    shortfall = shortfall_of(short.value)
    assert (shortfall.balance.amount_minor, shortfall.shortfall.amount_minor) == (0, 5_000)

    patient = payment.api("patient", "patient-1")
    top_up = (
        await patient.TopUpWallet(pb.TopUpWalletRequest(idempotency_key=key(), amount=usd(8_000)))
    ).payment
    assert await balance(payment) == {}  # nothing until the top-up is paid
    await sandbox.pay(top_up.attempts[-1].gateway_ref)
    await patient.until(top_up.id, SUCCEEDED)  # the patient's own; no service's to watch
    assert await balance(payment) == {"USD": 8_000}

    short_payment = await api.get(
        (await patient.ListPayments(pb.ListPaymentsRequest(purchase_kind="booking"))).payments[0].id
    )
    paid = (
        await api.RetryPayment(
            pb.RetryPaymentRequest(idempotency_key=key(), payment_id=short_payment.id)
        )
    ).payment
    assert paid.status == SUCCEEDED and paid.method == WALLET
    assert await balance(payment) == {"USD": 3_000}
    assert len(await events.wait_for(events_pb2.PaymentConfirmed, paid.id)) == 1

    refunded = (
        await payment.api("admin", "ops").RefundPayment(
            pb.RefundPaymentRequest(idempotency_key=key(), payment_id=paid.id, reason="slot_taken")
        )
    ).payment
    assert refunded.status == pb.PAYMENT_STATUS_REFUNDED
    assert await balance(payment) == {"USD": 8_000}
    history = (
        await patient.ListWalletTransactions(pb.ListWalletTransactionsRequest())
    ).transactions
    assert [(t.kind, t.amount.amount_minor, t.balance_after.amount_minor) for t in history] == [
        (pb.WALLET_TRANSACTION_KIND_REFUND, 5_000, 8_000),
        (pb.WALLET_TRANSACTION_KIND_PAYMENT, -5_000, 3_000),
        (pb.WALLET_TRANSACTION_KIND_TOP_UP, 8_000, 8_000),
    ]
    assert await payment.unbalanced_ledger_transactions() == []


async def test_a_short_wallet_payment_switches_to_the_gateway(payment, sandbox):
    api = payment.api()
    ref = key()
    with pytest.raises(grpc.aio.AioRpcError):
        await api.create(amount=5_000, method=WALLET, ref=ref)
    [short] = (await api.ListPayments(pb.ListPaymentsRequest(patient_id="patient-1"))).payments

    switched = (
        await api.RetryPayment(
            pb.RetryPaymentRequest(idempotency_key=key(), payment_id=short.id, method=GATEWAY)
        )
    ).payment
    await sandbox.pay(switched.attempts[-1].gateway_ref)
    paid = await api.until(short.id, SUCCEEDED)
    assert [a.method for a in paid.attempts] == [WALLET, GATEWAY]


async def test_gateway_refunds_full_partial_and_beyond_what_was_captured(payment, sandbox, events):
    paid = await paid_payment(payment, sandbox, amount=10_000)
    admin = payment.api("admin", "ops")

    part = await admin.RefundPayment(
        pb.RefundPaymentRequest(
            idempotency_key=key(), payment_id=paid.id, amount=usd(3_000), reason="admin_goodwill"
        )
    )
    assert part.refund.status == pb.REFUND_STATUS_SUCCEEDED
    assert part.payment.status == pb.PAYMENT_STATUS_PARTIALLY_REFUNDED

    with pytest.raises(grpc.aio.AioRpcError) as beyond:
        await admin.RefundPayment(
            pb.RefundPaymentRequest(
                idempotency_key=key(), payment_id=paid.id, amount=usd(7_001), reason="too_much"
            )
        )
    assert beyond.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    rest = await admin.RefundPayment(
        pb.RefundPaymentRequest(idempotency_key=key(), payment_id=paid.id, reason="cancelled")
    )
    assert rest.refund.amount.amount_minor == 7_000
    assert rest.payment.status == pb.PAYMENT_STATUS_REFUNDED
    assert rest.payment.refunded.amount_minor == 10_000
    refunds = await events.wait_for(events_pb2.PaymentRefunded, paid.id, count=2)
    assert [r.amount.amount_minor for r in refunds] == [3_000, 7_000]
    assert refunds[-1].full
    stats = await sandbox.stats()
    assert stats["refunds"] == 2
    [payout] = (
        await payment.api("doctor", "doctor-1").ListPayouts(pb.ListPayoutsRequest())
    ).payouts
    assert payout.status == pb.PAYOUT_STATUS_REVERSED and payout.gross.amount_minor == 0
    assert await payment.unbalanced_ledger_transactions() == []


async def test_a_rejected_purchase_is_refunded_once_however_often_rejected(
    payment, sandbox, events, js
):
    paid = await paid_payment(payment, sandbox)
    rejected = events_pb2.PurchaseRejected(
        payment_id=paid.id, purchase=paid.purchase, reason="slot_taken"
    )
    for _ in range(3):
        # Three deliveries with three event ids: the inbox cannot tell them apart, the
        # refund key can.
        await publish_as(js, BOOKING, rejected)

    [refund] = await events.wait_for(events_pb2.PaymentRefunded, paid.id)
    assert refund.full and refund.reason == "slot_taken"
    refunded = await payment.api().until(paid.id, pb.PAYMENT_STATUS_REFUNDED)
    assert len(refunded.refunds) == 1
    assert (await sandbox.stats())["refunds"] == 1


async def test_a_capture_of_the_wrong_amount_is_refunded_and_never_confirms(
    payment, sandbox, events
):
    api = payment.api()
    created = await api.create(amount=10_000)
    await sandbox.switches(wrong_amount=1)
    await sandbox.pay(created.attempts[-1].gateway_ref)

    refunded = await api.until(created.id, pb.PAYMENT_STATUS_REFUNDED)
    assert refunded.attempts[0].failure.code == "amount_mismatch"
    assert events.of(events_pb2.PaymentConfirmed, created.id) == []
    assert (await sandbox.stats())["refunds"] == 1
    assert await payment.unbalanced_ledger_transactions() == []
