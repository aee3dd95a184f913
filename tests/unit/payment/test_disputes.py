"""Disputes and early fraud warnings, from the gateway's webhooks: a dispute moves its
amount in the ledger and holds the doctor's payout, closes won or lost exactly once in
any order of its events; a fraud warning is recorded and, by the setting, refunded."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from services.payment.domain.disputes import DisputeStatus, FraudWarningTruth
from services.payment.domain.events import PurchaseVoided
from services.payment.domain.ledger import (
    DISPUTE_LOSSES,
    DISPUTED,
    GATEWAY_CLEARING,
    Account,
    Memo,
    balance,
)
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.payouts import PayoutStatus
from services.payment.handlers import jobs
from services.payment.handlers.context import Context, PaymentSettings
from services.payment.handlers.gateway import WebhookHint
from services.payment.handlers.payments import SettlePayment, create_payment, settle_payment
from services.payment.handlers.webhooks import ActOnWebhook, act_on_webhook
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.payment.builders import DOCTOR, T0
from tests.unit.payment.fakes import FakeGateway
from tests.unit.payment.test_handlers import APPOINTMENT

HOLD = PaymentSettings().payouts.hold


async def paid(ctx: Context, uow: FakeUnitOfWork, gateway: FakeGateway) -> Payment:
    payment = await create_payment(ctx, uow, APPOINTMENT)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)
    return await settle_payment(ctx, uow, SettlePayment(payment.id))


async def webhook(ctx: Context, uow: FakeUnitOfWork, event_id: str, **refs: str) -> bool:
    return await act_on_webhook(ctx, uow, ActOnWebhook(WebhookHint(event_id, "event", **refs)))


def on(uow: FakeUnitOfWork, account: Account) -> int:
    entries = [e for t in uow.ledger.all() for e in t.entries]
    return balance(account, "USD", entries).amount_minor


def memos(uow: FakeUnitOfWork) -> list[Memo]:
    return [t.memo for t in uow.ledger.all()]


async def test_a_chargeback_moves_its_amount_to_disputed_and_back_when_won(ctx, uow, gateway):
    payment = await paid(ctx, uow, gateway)
    clearing = on(uow, GATEWAY_CLEARING)
    gateway.dispute("dp_1", payment, DisputeStatus.OPEN)

    assert await webhook(ctx, uow, "evt_1", dispute_ref="dp_1")
    assert on(uow, DISPUTED) == 10_000
    assert on(uow, GATEWAY_CLEARING) == clearing - 10_000
    (dispute,) = uow.disputes.all()
    assert (dispute.status, dispute.payment_id) == (DisputeStatus.OPEN, payment.id)

    gateway.dispute("dp_1", payment, DisputeStatus.WON)
    assert await webhook(ctx, uow, "evt_2", dispute_ref="dp_1")
    assert await webhook(ctx, uow, "evt_3", dispute_ref="dp_1")

    assert on(uow, DISPUTED) == 0
    assert on(uow, GATEWAY_CLEARING) == clearing
    assert memos(uow)[-2:] == [Memo.DISPUTE_FUNDS_WITHDRAWN, Memo.DISPUTE_WON]
    assert uow.disputes.all()[0].status is DisputeStatus.WON
    assert [p.status for p in uow.payouts.all()] == [PayoutStatus.HELD]


async def test_a_lost_dispute_takes_the_doctors_held_payout_back_and_books_the_rest_as_loss(
    ctx, uow, gateway
):
    payment = await paid(ctx, uow, gateway)
    (payout,) = uow.payouts.all()
    gateway.dispute("dp_1", payment, DisputeStatus.OPEN)
    await webhook(ctx, uow, "evt_1", dispute_ref="dp_1")
    gateway.dispute("dp_1", payment, DisputeStatus.LOST)
    await webhook(ctx, uow, "evt_2", dispute_ref="dp_1")

    (reversed_payout,) = uow.payouts.all()
    assert reversed_payout.status is PayoutStatus.REVERSED
    assert on(uow, Account.doctor_payable(DOCTOR)) == 0
    assert on(uow, DISPUTED) == 0
    assert on(uow, DISPUTE_LOSSES) == 10_000 - payout.split.net.amount_minor
    assert stored_status(uow, payment) is PaymentStatus.SUCCEEDED


async def test_a_dispute_heard_of_only_once_closed_posts_its_whole_way_once(ctx, uow, gateway):
    payment = await paid(ctx, uow, gateway)
    gateway.dispute("dp_1", payment, DisputeStatus.LOST)

    # The closing event first, then the opening one late, then the closing one again.
    for event_id in ("evt_closed", "evt_created", "evt_closed_again"):
        await webhook(ctx, uow, event_id, dispute_ref="dp_1")

    assert memos(uow)[-2:] == [Memo.DISPUTE_FUNDS_WITHDRAWN, Memo.DISPUTE_LOST]
    assert memos(uow).count(Memo.DISPUTE_LOST) == 1
    assert on(uow, DISPUTED) == 0


async def test_an_inquiry_moves_no_money_and_holds_the_payout_until_closed(ctx, uow, gateway):
    payment = await paid(ctx, uow, gateway)
    gateway.dispute("dp_1", payment, DisputeStatus.OPEN, withdrawn=False)
    await webhook(ctx, uow, "evt_1", dispute_ref="dp_1")
    after_hold = dataclasses.replace(ctx, clock=lambda: T0 + HOLD + timedelta(days=1))

    assert await jobs.release_payouts(after_hold) == 1
    assert [p.status for p in uow.payouts.all()] == [PayoutStatus.HELD]
    assert DISPUTED not in [e.account for t in uow.ledger.all() for e in t.entries]

    gateway.dispute("dp_1", payment, DisputeStatus.WON, withdrawn=False)
    await webhook(ctx, uow, "evt_2", dispute_ref="dp_1")
    await jobs.release_payouts(after_hold)
    assert [p.status for p in uow.payouts.all()] == [PayoutStatus.RELEASED]


async def test_a_dispute_of_a_charge_nobat_never_made_is_remembered_and_ignored(ctx, uow, gateway):
    payment = await paid(ctx, uow, gateway)
    gateway.dispute("dp_other", dataclasses.replace(payment, id=""), DisputeStatus.OPEN)
    gateway.dispute("dp_unknown", dataclasses.replace(payment, id="pay-x"), DisputeStatus.OPEN)

    assert await webhook(ctx, uow, "evt_1", dispute_ref="dp_other")
    assert await webhook(ctx, uow, "evt_2", dispute_ref="dp_unknown")
    assert uow.disputes.all() == []


@pytest.mark.parametrize(
    ("setting", "actionable", "refunded"),
    [
        (True, True, True),
        (True, False, False),
        (False, True, False),
    ],
)
async def test_an_early_fraud_warning_is_recorded_and_refunded_by_the_setting(
    ctx, uow, gateway, setting, actionable, refunded
):
    ctx = dataclasses.replace(ctx, settings=PaymentSettings(refund_on_fraud_warning=setting))
    payment = await paid(ctx, uow, gateway)
    warning = FraudWarningTruth("issfr_1", payment.id, "made_with_stolen_card", actionable)
    gateway.fraud_warnings["issfr_1"] = warning

    assert await webhook(ctx, uow, "evt_1", fraud_warning_ref="issfr_1")
    assert not await webhook(ctx, uow, "evt_1", fraud_warning_ref="issfr_1")
    assert await webhook(ctx, uow, "evt_2", fraud_warning_ref="issfr_1")

    (recorded,) = uow.fraud_warnings.all()
    assert (recorded.fraud_type, bool(recorded.refund_id)) == ("made_with_stolen_card", refunded)
    expected = PaymentStatus.REFUNDED if refunded else PaymentStatus.SUCCEEDED
    assert stored_status(uow, payment) is expected
    assert len(gateway.asked("create_refund")) == int(refunded)
    # Voided once, however often warned, so booking or consultation releases the record.
    voided = uow.of(PurchaseVoided)
    assert [(v.payment_id, v.purchase, v.reason) for v in voided] == [
        (payment.id, payment.purchase, "fraud_warning")
    ] * int(refunded)


async def test_a_fraud_warning_on_a_disputed_payment_is_recorded_and_neither_refunds_nor_voids(
    ctx, uow, gateway
):
    payment = await paid(ctx, uow, gateway)
    gateway.dispute("dp_1", payment, DisputeStatus.OPEN)
    assert await webhook(ctx, uow, "evt_1", dispute_ref="dp_1")
    gateway.fraud_warnings["issfr_1"] = FraudWarningTruth(
        "issfr_1", payment.id, "made_with_stolen_card", True
    )

    assert await webhook(ctx, uow, "evt_2", fraud_warning_ref="issfr_1")

    (recorded,) = uow.fraud_warnings.all()
    assert recorded.refund_id == ""
    assert stored_status(uow, payment) is PaymentStatus.SUCCEEDED
    assert gateway.asked("create_refund") == []
    assert uow.of(PurchaseVoided) == []


def stored_status(uow: FakeUnitOfWork, payment: Payment) -> PaymentStatus:
    (found,) = [p for p in uow.payments.all() if p.id == payment.id]
    return found.status
