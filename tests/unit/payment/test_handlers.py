"""Payment's use cases on an in-memory unit of work and gateway: what is stored, what is
published, what the gateway is asked, and that a refusal or an unreachable gateway
leaves nothing half-done."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from runtime import errors
from runtime.errors import RefusedAfterEffect
from runtime.money import Money
from services.payment.domain.errors import (
    InsufficientWalletBalance,
    NotThePurchasersPayment,
    PaymentAlreadySettled,
    PurchaseHasAnotherPayment,
)
from services.payment.domain.events import (
    PaymentConfirmed,
    PaymentExpired,
    PaymentFailed,
    PaymentRefunded,
    PayoutReleased,
    PurchaseVoided,
)
from services.payment.domain.ledger import Memo
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.payouts import PayoutStatus
from services.payment.domain.purchase import PaymentMethod, Purchase
from services.payment.domain.refund import RefundStatus
from services.payment.domain.wallet import Wallet, WalletTransactionKind
from services.payment.handlers import jobs, views
from services.payment.handlers.context import Context, PaymentSettings
from services.payment.handlers.gateway import GatewayRefused, WebhookHint
from services.payment.handlers.payments import (
    CreatePayment,
    ExpirePayment,
    RetryPayment,
    SettlePayment,
    TopUpWallet,
    create_payment,
    expire_payment,
    retry_payment,
    settle_payment,
    top_up_wallet,
)
from services.payment.handlers.refunds import (
    PurchaseFulfilled,
    PurchaseRejected,
    RefundPayment,
    purchase_fulfilled,
    purchase_rejected,
    refund_payment,
)
from services.payment.handlers.webhooks import ActOnWebhook, act_on_webhook
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.payment.builders import PATIENT, T0, doctor_line, usd
from tests.unit.payment.fakes import FakeGateway, fake_unit

NOW = T0
SETTINGS = PaymentSettings()
APPOINTMENT = CreatePayment(
    purchase=Purchase("booking", "checkout-1"),
    patient_id=PATIENT,
    amount=usd(10_000),
    lines=(doctor_line(usd(10_000)),),
    method=PaymentMethod.GATEWAY,
    return_url="https://app.example/return",
    description="Appointment",
)
FROM_WALLET = dataclasses.replace(APPOINTMENT, method=PaymentMethod.WALLET)


def at(ctx: Context, when: datetime) -> Context:
    return dataclasses.replace(ctx, clock=lambda: when)


def stored(uow: FakeUnitOfWork, payment_id: str) -> Payment:
    (payment,) = [p for p in uow.payments.all() if p.id == payment_id]
    return payment


async def paid_appointment(ctx: Context, uow: FakeUnitOfWork, gateway: FakeGateway) -> Payment:
    """An appointment paid at the gateway and settled, as the webhook makes it."""
    payment = await create_payment(ctx, uow, APPOINTMENT)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)
    return await settle_payment(ctx, uow, SettlePayment(payment.id))


def cancellation(payment: Payment, amount: Money | None = None) -> RefundPayment:
    """The refund a patient's cancellation asks for: everything, unless `amount`."""
    return RefundPayment(payment.id, "cancellation", amount, "patient_cancelled")


async def answered(uow: FakeUnitOfWork, call) -> Exception:
    """Runs a call the way the gRPC layer does: a refusal raised after an effect keeps the
    effect (the layer commits it) and answers the refusal."""
    async with uow:
        with pytest.raises(RefusedAfterEffect) as refused:
            await call
        await uow.commit()
    return refused.value.error


async def test_a_payment_through_the_gateway_waits_on_its_session_and_tells_nobody_yet(
    ctx, uow, gateway
):
    payment = await create_payment(ctx, uow, APPOINTMENT)

    attempt = payment.attempts[0]
    assert gateway.asked("create_checkout") == [attempt.id]
    assert stored(uow, payment.id).status is PaymentStatus.PROCESSING
    assert stored(uow, payment.id).checkout_url == f"https://gateway.example/pay/cs_{attempt.id}"
    # Reconciliation will ask about the session if no webhook comes.
    assert uow.payments.next_check_at[payment.id] is not None
    assert uow.published == []


async def test_the_same_order_asked_again_is_the_same_payment_on_the_same_session(
    ctx, uow, gateway
):
    first = await create_payment(ctx, uow, APPOINTMENT)
    again = await create_payment(ctx, uow, APPOINTMENT)

    assert again.id == first.id
    assert len(uow.payments.all()) == 1
    assert len(gateway.asked("create_checkout")) == 1


async def test_other_terms_for_a_purchase_already_being_paid_are_refused(ctx, uow, gateway):
    first = await create_payment(ctx, uow, APPOINTMENT)
    cheaper = dataclasses.replace(APPOINTMENT, amount=usd(5_000), lines=(doctor_line(usd(5_000)),))

    with pytest.raises(PurchaseHasAnotherPayment):
        await create_payment(ctx, uow, cheaper)

    assert uow.payments.all() == [stored(uow, first.id)]
    assert stored(uow, first.id).amount == usd(10_000)
    assert len(gateway.asked("create_checkout")) == 1


async def test_an_unreachable_gateway_leaves_no_payment_behind(ctx, uow, gateway):
    gateway.down = True

    with pytest.raises(errors.Unavailable):
        await create_payment(ctx, uow, APPOINTMENT)

    assert uow.payments.all() == []
    assert uow.published == []
    assert uow.commits == 0


async def test_paying_from_the_wallet_moves_the_money_and_confirms_at_once(gateway):
    uow = fake_unit(wallets=(Wallet(PATIENT, {"USD": 15_000}),))
    ctx = Context(lambda: uow, gateway, SETTINGS, clock=lambda: NOW)

    payment = await create_payment(ctx, uow, FROM_WALLET)

    assert stored(uow, payment.id).status is PaymentStatus.SUCCEEDED
    assert (await uow.wallets.get(PATIENT)).balance("USD") == usd(5_000)
    assert [move.kind for move in uow.wallets.history] == [WalletTransactionKind.PAYMENT]
    assert [t.memo for t in uow.ledger.all()] == [Memo.PAYMENT_CONFIRMED]
    assert [(p.doctor_id, p.status) for p in uow.payouts.all()] == [("doctor-1", PayoutStatus.HELD)]
    assert [e.payment_id for e in uow.of(PaymentConfirmed)] == [payment.id]
    assert gateway.calls == []


async def test_a_wallet_too_short_refuses_but_keeps_the_attempt_so_the_gateway_can_pay(
    gateway,
):
    uow = fake_unit(wallets=(Wallet(PATIENT, {"USD": 4_000}),))
    ctx = Context(lambda: uow, gateway, SETTINGS, clock=lambda: NOW)

    refusal = await answered(uow, create_payment(ctx, uow, FROM_WALLET))

    assert isinstance(refusal, InsufficientWalletBalance)
    payment_id = refusal.metadata["payment_id"]
    assert stored(uow, payment_id).status is PaymentStatus.REQUIRES_PAYMENT
    assert (await uow.wallets.get(PATIENT)).balance("USD") == usd(4_000)
    assert uow.ledger.all() == []
    assert [failed.retryable for failed in uow.of(PaymentFailed)] == [True]

    retried = await retry_payment(ctx, uow, RetryPayment(payment_id, PaymentMethod.GATEWAY))

    assert [a.method for a in retried.attempts] == [PaymentMethod.WALLET, PaymentMethod.GATEWAY]
    assert gateway.asked("create_checkout") == [retried.attempts[1].id]


async def test_a_payment_paid_at_the_gateway_is_confirmed_once_however_often_it_is_settled(
    ctx, uow, gateway
):
    payment = await paid_appointment(ctx, uow, gateway)
    await settle_payment(ctx, uow, SettlePayment(payment.id))

    assert stored(uow, payment.id).status is PaymentStatus.SUCCEEDED
    assert len(uow.of(PaymentConfirmed)) == 1
    assert [t.memo for t in uow.ledger.all()] == [Memo.PAYMENT_CONFIRMED]
    assert len(uow.payouts.all()) == 1
    # Nothing left in doubt: reconciliation stops asking.
    assert uow.payments.next_check_at[payment.id] is None


async def test_settling_while_the_gateway_is_unreachable_changes_nothing(ctx, uow, gateway):
    payment = await create_payment(ctx, uow, APPOINTMENT)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)
    gateway.down = True
    before = stored(uow, payment.id)

    await settle_payment(ctx, uow, SettlePayment(payment.id))

    assert stored(uow, payment.id) == before
    assert uow.published == []
    assert uow.ledger.all() == []

    gateway.down = False
    await settle_payment(ctx, uow, SettlePayment(payment.id))

    assert stored(uow, payment.id).status is PaymentStatus.SUCCEEDED


async def test_a_declined_card_fails_the_attempt_and_a_retry_opens_a_new_session(ctx, uow, gateway):
    payment = await create_payment(ctx, uow, APPOINTMENT)
    gateway.decline(payment.attempts[0].gateway_ref)

    await settle_payment(ctx, uow, SettlePayment(payment.id))

    assert [(f.attempt_id, f.retryable) for f in uow.of(PaymentFailed)] == [
        (payment.attempts[0].id, True)
    ]

    retried = await retry_payment(ctx, uow, RetryPayment(payment.id))

    assert len(retried.attempts) == 2
    assert gateway.asked("create_checkout") == [a.id for a in retried.attempts]
    assert stored(uow, payment.id).status is PaymentStatus.PROCESSING


async def test_a_retry_after_the_last_page_was_paid_after_all_is_refused_and_confirms(
    ctx, uow, gateway
):
    payment = await create_payment(ctx, uow, APPOINTMENT)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)

    refusal = await answered(uow, retry_payment(ctx, uow, RetryPayment(payment.id)))

    assert isinstance(refusal, PaymentAlreadySettled)
    assert stored(uow, payment.id).status is PaymentStatus.SUCCEEDED
    assert len(uow.of(PaymentConfirmed)) == 1
    assert len(gateway.asked("create_checkout")) == 1


async def test_a_payment_never_paid_expires_with_its_session_closed(ctx, uow, gateway):
    payment = await create_payment(ctx, uow, APPOINTMENT)
    later = at(ctx, payment.expires_at + timedelta(minutes=1))

    await jobs.expire_payments(later)

    assert stored(uow, payment.id).status is PaymentStatus.EXPIRED
    assert gateway.asked("expire_checkout") == [payment.attempts[0].gateway_ref]
    assert [e.payment_id for e in uow.of(PaymentExpired)] == [payment.id]
    assert uow.of(PaymentConfirmed) == []


async def test_a_session_paid_at_the_last_moment_confirms_rather_than_expires(ctx, uow, gateway):
    payment = await create_payment(ctx, uow, APPOINTMENT)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)

    await expire_payment(at(ctx, payment.expires_at), uow, ExpirePayment(payment.id))

    assert stored(uow, payment.id).status is PaymentStatus.SUCCEEDED
    assert len(uow.of(PaymentConfirmed)) == 1
    assert uow.of(PaymentExpired) == []


async def test_reconciliation_confirms_a_payment_whose_webhook_was_lost(ctx, uow, gateway):
    payment = await create_payment(ctx, uow, APPOINTMENT)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)

    assert await jobs.reconcile(at(ctx, NOW + timedelta(hours=1))) == 1

    assert stored(uow, payment.id).status is PaymentStatus.SUCCEEDED
    assert len(uow.of(PaymentConfirmed)) == 1


async def test_a_top_up_paid_credits_the_wallet_and_the_same_key_is_the_same_top_up(
    ctx, uow, gateway
):
    command = TopUpWallet(PATIENT, "top-up-1", usd(2_500))
    first = await top_up_wallet(ctx, uow, command)
    again = await top_up_wallet(ctx, uow, command)
    gateway.pay(first.attempts[0].gateway_ref, first.amount)

    await settle_payment(ctx, uow, SettlePayment(first.id))

    assert again.id == first.id
    assert len(gateway.asked("create_checkout")) == 1
    assert (await views.wallet(uow, PATIENT)).balance("USD") == usd(2_500)
    assert [move.kind for move in uow.wallets.history] == [WalletTransactionKind.TOP_UP]
    # Fulfilled by its own confirmation: the orphan check never asks about it.
    assert first.id in uow.payments.fulfilled_at


async def test_a_key_that_looks_like_another_patients_id_is_still_the_patients_own_top_up(
    ctx, uow, gateway
):
    mine = await top_up_wallet(ctx, uow, TopUpWallet("a", "b/c", usd(1_000)))
    theirs = await top_up_wallet(ctx, uow, TopUpWallet("a/b", "c", usd(9_000)))
    assert mine.id != theirs.id
    assert (theirs.patient_id, theirs.amount) == ("a/b", usd(9_000))
    assert len(gateway.asked("create_checkout")) == 2


async def test_a_refund_through_the_gateway_gives_the_money_back_and_reverses_the_payout(
    ctx, uow, gateway
):
    payment = await paid_appointment(ctx, uow, gateway)

    _, refund = await refund_payment(ctx, uow, cancellation(payment))

    assert gateway.asked("create_refund") == [refund.id]
    assert stored(uow, payment.id).status is PaymentStatus.REFUNDED
    assert [(r.amount, r.full) for r in uow.of(PaymentRefunded)] == [(usd(10_000), True)]
    assert [p.status for p in uow.payouts.all()] == [PayoutStatus.REVERSED]
    assert [t.memo for t in uow.ledger.all()] == [Memo.PAYMENT_CONFIRMED, Memo.REFUND]


async def test_a_part_refund_through_the_gateway_is_asked_in_the_gateways_steps(ctx, uow, gateway):
    # Stripe takes KWD only in tens of fils: half of 12.350 KWD goes back as 6.180.
    gateway.accepts = dataclasses.replace(gateway.accepts, step_minor={"KWD": 10})
    kwd = Money(12_350, "KWD")
    made = await create_payment(
        ctx, uow, dataclasses.replace(APPOINTMENT, amount=kwd, lines=(doctor_line(kwd),))
    )
    gateway.pay(made.attempts[0].gateway_ref, kwd)
    payment = await settle_payment(ctx, uow, SettlePayment(made.id))

    _, refund = await refund_payment(ctx, uow, cancellation(payment, Money(6_175, "KWD")))

    assert refund.amount == Money(6_180, "KWD")


async def test_the_same_refund_asked_twice_is_sent_and_told_once(ctx, uow, gateway):
    payment = await paid_appointment(ctx, uow, gateway)
    command = cancellation(payment, usd(4_000))

    await refund_payment(ctx, uow, command)
    await refund_payment(ctx, uow, command)

    assert len(gateway.asked("create_refund")) == 1
    assert [r.amount for r in uow.of(PaymentRefunded)] == [usd(4_000)]
    assert stored(uow, payment.id).status is PaymentStatus.PARTIALLY_REFUNDED


async def test_a_refund_the_gateway_cannot_take_yet_is_sent_when_reconciliation_comes(
    ctx, uow, gateway
):
    payment = await paid_appointment(ctx, uow, gateway)
    gateway.down = True

    _, refund = await refund_payment(ctx, uow, cancellation(payment))

    assert refund.status is RefundStatus.PENDING
    assert stored(uow, payment.id).status is PaymentStatus.REFUND_PENDING
    assert uow.of(PaymentRefunded) == []
    assert [t.memo for t in uow.ledger.all()] == [Memo.PAYMENT_CONFIRMED]

    gateway.down = False
    await jobs.reconcile(at(ctx, NOW + timedelta(hours=1)))

    assert stored(uow, payment.id).status is PaymentStatus.REFUNDED
    assert len(uow.of(PaymentRefunded)) == 1


async def test_a_refund_the_gateway_refuses_fails_and_gives_nothing_back(ctx, uow, gateway):
    payment = await paid_appointment(ctx, uow, gateway)
    gateway.refusing = GatewayRefused("charge_disputed", "the charge is disputed")

    _, refund = await refund_payment(ctx, uow, cancellation(payment))

    assert refund.status is RefundStatus.FAILED
    assert stored(uow, payment.id).status is PaymentStatus.SUCCEEDED
    assert uow.of(PaymentRefunded) == []
    assert [p.status for p in uow.payouts.all()] == [PayoutStatus.HELD]
    assert [t.memo for t in uow.ledger.all()] == [Memo.PAYMENT_CONFIRMED]


async def test_a_purchasing_context_may_not_refund_another_contexts_payment(ctx, uow, gateway):
    payment = await paid_appointment(ctx, uow, gateway)
    before = stored(uow, payment.id)

    with pytest.raises(NotThePurchasersPayment):
        await purchase_rejected(
            ctx, uow, PurchaseRejected(payment.id, "slot_taken", "consultation")
        )

    assert stored(uow, payment.id) == before
    assert gateway.asked("create_refund") == []


async def test_a_rejection_after_a_full_refund_finds_nothing_left_and_is_done(ctx, uow, gateway):
    payment = await paid_appointment(ctx, uow, gateway)
    await refund_payment(ctx, uow, RefundPayment(payment.id, "admin-1", None, "goodwill"))

    await purchase_rejected(ctx, uow, PurchaseRejected(payment.id, "slot_taken", "booking"))

    assert len(gateway.asked("create_refund")) == 1
    assert len(uow.of(PaymentRefunded)) == 1


@pytest.mark.parametrize("asked_by", ["admin", "cancellation", "rejection"])
async def test_a_refund_someone_asked_for_voids_no_purchase(ctx, uow, gateway, asked_by):
    """Only payment's own refunds (an early fraud warning's) void the purchase: an admin's
    refund leaves the record as it is, and booking's or consultation's own refunds follow
    what they already did to it."""
    payment = await paid_appointment(ctx, uow, gateway)
    if asked_by == "rejection":
        await purchase_rejected(ctx, uow, PurchaseRejected(payment.id, "slot_taken", "booking"))
    else:
        refund = RefundPayment(payment.id, "admin-1", None, "goodwill")
        await refund_payment(ctx, uow, refund if asked_by == "admin" else cancellation(payment))

    assert stored(uow, payment.id).status is PaymentStatus.REFUNDED
    assert uow.of(PurchaseVoided) == []


async def test_a_purchase_is_marked_fulfilled_once_and_only_by_its_purchaser(ctx, uow, gateway):
    payment = await paid_appointment(ctx, uow, gateway)

    await purchase_fulfilled(ctx, uow, PurchaseFulfilled(payment.id, "booking"))
    later = at(ctx, NOW + timedelta(minutes=1))
    await purchase_fulfilled(later, uow, PurchaseFulfilled(payment.id, "booking"))

    assert uow.payments.fulfilled_at == {payment.id: NOW}
    with pytest.raises(NotThePurchasersPayment):
        await purchase_fulfilled(ctx, uow, PurchaseFulfilled(payment.id, "consultation"))


async def test_a_confirmation_nobody_answered_is_told_again_once_per_grace_period(
    ctx, uow, gateway
):
    payment = await paid_appointment(ctx, uow, gateway)
    past_grace = at(ctx, NOW + SETTINGS.orphan_grace + timedelta(seconds=1))

    assert await jobs.republish_orphans(past_grace) == 1
    assert await jobs.republish_orphans(past_grace) == 1

    assert [e.payment_id for e in uow.of(PaymentConfirmed)] == [payment.id, payment.id]

    await purchase_fulfilled(ctx, uow, PurchaseFulfilled(payment.id, "booking"))

    assert await jobs.republish_orphans(past_grace) == 0


async def test_payouts_are_released_after_their_hold_and_only_once(ctx, uow, gateway):
    payment = await paid_appointment(ctx, uow, gateway)
    released_at = NOW + SETTINGS.payouts.hold

    assert await jobs.release_payouts(at(ctx, released_at - timedelta(seconds=1))) == 0
    assert await jobs.release_payouts(at(ctx, released_at)) == 1
    assert await jobs.release_payouts(at(ctx, released_at)) == 0

    assert [p.status for p in uow.payouts.all()] == [PayoutStatus.RELEASED]
    assert [e.payment_id for e in uow.of(PayoutReleased)] == [payment.id]
    assert [t.memo for t in uow.ledger.all()] == [Memo.PAYMENT_CONFIRMED, Memo.PAYOUT_RELEASED]


async def test_a_webhook_settles_its_payment_in_the_same_commit_and_its_duplicate_does_nothing(
    ctx, uow, gateway
):
    payment = await create_payment(ctx, uow, APPOINTMENT)
    session = payment.attempts[0].gateway_ref
    gateway.pay(session, payment.amount)
    hint = WebhookHint("evt_1", "checkout.session.completed", payment.id, session)

    assert await act_on_webhook(ctx, uow, ActOnWebhook(hint)) is True
    assert stored(uow, payment.id).status is PaymentStatus.SUCCEEDED
    reads = len(gateway.asked("read_checkout"))

    assert await act_on_webhook(ctx, uow, ActOnWebhook(hint)) is False
    assert len(gateway.asked("read_checkout")) == reads
    assert len(uow.of(PaymentConfirmed)) == 1


async def test_a_webhook_naming_a_payment_nobat_never_made_is_remembered_and_ignored(ctx, uow):
    hint = WebhookHint("evt_2", "checkout.session.completed", "payment-unknown", "cs_x")

    assert await act_on_webhook(ctx, uow, ActOnWebhook(hint)) is True
    assert await act_on_webhook(ctx, uow, ActOnWebhook(hint)) is False
    assert uow.published == []
