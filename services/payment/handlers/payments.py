"""Payment intents: create, retry, confirm on return, settle, expire, reconcile.

Every change happens under the payment's row lock, reads the gateway's truth rather than
trusting a message, and books what it means in the same commit (`recording.book`).
Calls that create something at the gateway carry keys derived from nobat's ids, so they
may run inside the transaction: if it rolls back, asking again finds the same session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from runtime import errors
from runtime.errors import RefusedAfterEffect
from runtime.money import Money
from services.payment import metrics
from services.payment.domain.audit import PAYMENT, RECONCILE, Action, Actor
from services.payment.domain.errors import (
    AttemptStillOpen,
    InsufficientWalletBalance,
    PaymentAlreadySettled,
    PaymentNotFound,
    PurchaseHasAnotherPayment,
)
from services.payment.domain.events import Change
from services.payment.domain.ids import payment_id_for, top_up_id
from services.payment.domain.payment import Payment
from services.payment.domain.purchase import PayeeLine, PaymentMethod, Purchase
from services.payment.domain.refund import RefundStatus
from services.payment.domain.settlement import (
    GatewayRefundTruth,
    GatewayTruth,
    settle,
    settle_refund,
)
from services.payment.domain.wallet import pay_from_wallet, top_up
from services.payment.handlers.context import Context
from services.payment.handlers.gateway import CheckoutRequest, GatewayUnavailable
from services.payment.handlers.recording import book, follow_up
from services.payment.handlers.unit_of_work import PaymentUnit


@dataclass(frozen=True)
class CreatePayment:
    purchase: Purchase
    patient_id: str
    amount: Money
    lines: tuple[PayeeLine, ...]
    method: PaymentMethod
    return_url: str = ""
    description: str = ""
    expires_at: datetime | None = None
    # The purchasing service asking, for the payment's trail.
    actor: Actor = PAYMENT


@dataclass(frozen=True)
class RetryPayment:
    payment_id: str
    # None keeps the last attempt's method.
    method: PaymentMethod | None = None
    return_url: str = ""
    # Whose payment it must be (None: anyone's).
    viewer: Viewer | None = None
    actor: Actor = PAYMENT


@dataclass(frozen=True)
class SettlePayment:
    """Read the gateway's truth about a payment and move it forward: ConfirmPayment's,
    a webhook's (its `hint` names the session) and reconciliation's."""

    payment_id: str
    viewer: Viewer | None = None
    hint: str = ""
    # Reconciliation's, unless the gateway's webhook asks.
    action: Action = RECONCILE


@dataclass(frozen=True)
class ConfirmPayment:
    """The patient's app back from the gateway's page, asking how the payment went;
    `gateway_ref` names the session it paid on, if the return URL said."""

    payment_id: str
    viewer: Viewer | None = None
    gateway_ref: str = ""
    actor: Actor = PAYMENT


@dataclass(frozen=True)
class ExpirePayment:
    """The sweeper's: an intent found unpaid past its expiry."""

    payment_id: str


@dataclass(frozen=True)
class TopUpWallet:
    patient_id: str
    # The caller's idempotency key: the same key is the same top-up.
    key: str
    amount: Money
    return_url: str = ""
    actor: Actor = PAYMENT


@dataclass(frozen=True)
class Viewer:
    """Whose payments a caller may see: a patient their own; a purchasing service those
    for its own kind of purchase. Admins see every payment (no Viewer)."""

    patient_id: str | None = None
    purchase_kind: str | None = None

    def may_see(self, payment: Payment) -> bool:
        return self.patient_id in (None, payment.patient_id) and self.purchase_kind in (
            None,
            payment.purchase.kind,
        )

    def listing(self, patient_id: str = "", kind: str = "") -> tuple[str | None, str | None]:
        """The patient and the kind of purchase a list is narrowed to (None: any). The
        viewer's own wherever the viewer has one, blank or not, so no subject ever reads as
        "everyone"; elsewhere the one asked for, where unset ("") means any."""
        return (
            self.patient_id if self.patient_id is not None else patient_id or None,
            self.purchase_kind if self.purchase_kind is not None else kind or None,
        )


async def load(uow: PaymentUnit, payment_id: str, viewer: Viewer | None, *, lock: bool) -> Payment:
    """The payment, if `viewer` may see it (None: anyone may)."""
    payment = await uow.payments.get(payment_id, for_update=lock)
    if payment is None or (viewer is not None and not viewer.may_see(payment)):
        raise PaymentNotFound(payment_id)
    return payment


async def create_payment(ctx: Context, uow: PaymentUnit, cmd: CreatePayment) -> Payment:
    def build(now: datetime) -> Payment:
        return Payment.create(
            id=payment_id_for(cmd.purchase.kind, cmd.purchase.ref),
            purchase=cmd.purchase,
            patient_id=cmd.patient_id,
            amount=cmd.amount,
            lines=cmd.lines,
            method=cmd.method,
            created_at=now,
            expires_at=cmd.expires_at or now + ctx.settings.default_ttl,
            return_url=cmd.return_url,
            description=cmd.description,
        )

    return await _open(
        ctx,
        uow,
        payment_id_for(cmd.purchase.kind, cmd.purchase.ref),
        build,
        lambda existing: _same_order(uow, existing, cmd),
        Action("create", cmd.actor),
    )


async def _open(
    ctx: Context,
    uow: PaymentUnit,
    payment_id: str,
    build: Callable[[datetime], Payment],
    reuse: Callable[[Payment], Awaitable[Payment]],
    action: Action,
) -> Payment:
    """A new intent and its first attempt, or what `reuse` makes of the one there is."""
    async with uow:
        uow.payments.acting(action)
        existing = await uow.payments.get(payment_id, for_update=True)
        if existing is not None:
            return await reuse(existing)
        now = ctx.clock()
        payment = build(now)
        await uow.payments.add(payment)
        await _attempt(ctx, uow, payment, payment.method, now)
        await uow.commit()
    metrics.first_attempts[payment.method].inc()
    return payment


async def _same_order(uow: PaymentUnit, existing: Payment, cmd: CreatePayment) -> Payment:
    """A purchase asked to be paid again: the same terms get the same intent (a caller's
    retry with a new key), other terms are refused."""
    same = (existing.patient_id, existing.amount, existing.lines) == (
        cmd.patient_id,
        cmd.amount,
        cmd.lines,
    ) and existing.attempts[0].method is cmd.method
    if not same:
        raise PurchaseHasAnotherPayment(existing.id, cmd.purchase.kind, cmd.purchase.ref)
    latest = existing.latest_attempt
    if latest is not None and latest.method is PaymentMethod.WALLET and existing.is_open:
        # The first answer was a shortfall: it still is, unless the wallet was topped up
        # since, which RetryPayment (not a repeated create) turns into a payment.
        wallet = await uow.wallets.get(existing.patient_id)
        wallet.require(existing.amount)
    return existing


async def retry_payment(ctx: Context, uow: PaymentUnit, cmd: RetryPayment) -> Payment:
    async with uow:
        uow.payments.acting(Action("retry", cmd.actor))
        payment = await load(uow, cmd.payment_id, cmd.viewer, lock=True)
        now = ctx.clock()
        if payment.is_open:
            # Before anything reaches the gateway; a closed payment is refused below.
            ctx.settings.gateway_calls.ensure_may_attempt(payment, now)
        latest = payment.latest_attempt
        if latest is not None and latest.gateway_ref and latest.may_still_be_paid:
            # The patient left that page without paying, or it declined the card or failed
            # its 3-D Secure challenge and stays payable on the gateway: close it first, so
            # the intent is never paid twice. If it was paid after all, the retry is
            # refused below.
            await _settle_truth(ctx, payment, await _expire(ctx, latest.gateway_ref), now)
            if payment.is_confirmed:
                await follow_up(ctx, payment, now)
                await book(ctx, uow, payment, now)
                raise RefusedAfterEffect(PaymentAlreadySettled(payment.id, payment.status.value))
        if cmd.return_url:
            payment.return_url = cmd.return_url
        await _attempt(ctx, uow, payment, cmd.method or payment.method, now)
        await uow.commit()
    metrics.retried_attempts[cmd.method or payment.method].inc()
    return payment


async def top_up_wallet(ctx: Context, uow: PaymentUnit, cmd: TopUpWallet) -> Payment:
    """A top-up is a purchase of the patient's own wallet, paid through the gateway; the
    same key is the same top-up."""
    payment_id = top_up_id(cmd.patient_id, cmd.key)

    def build(now: datetime) -> Payment:
        return top_up(
            payment_id=payment_id,
            patient_id=cmd.patient_id,
            amount=cmd.amount,
            created_at=now,
            expires_at=now + ctx.settings.default_ttl,
            return_url=cmd.return_url,
        )

    async def reuse(existing: Payment) -> Payment:
        return existing

    return await _open(ctx, uow, payment_id, build, reuse, Action("top_up", cmd.actor))


async def _attempt(
    ctx: Context,
    uow: PaymentUnit,
    payment: Payment,
    method: PaymentMethod,
    now: datetime,
) -> None:
    """Starts an attempt: a gateway session to pay on, or a wallet debit at once."""
    if method is PaymentMethod.WALLET:
        await _pay_from_wallet(ctx, uow, payment, now)
        return
    # Before the attempt exists: a currency the gateway cannot take is the patient's to
    # hear now, not a gateway error once the page is asked for.
    ctx.gateway.accepts.require(payment.amount)
    attempt = payment.start_attempt(PaymentMethod.GATEWAY, now)
    try:
        checkout = await ctx.gateway.create_checkout(
            CheckoutRequest(
                attempt_id=attempt.id,
                payment_id=payment.id,
                patient_id=payment.patient_id,
                amount=payment.amount,
                description=payment.description or payment.purchase.kind,
                return_url=payment.return_url or ctx.settings.default_return_url,
                expires_at=payment.expires_at,
            )
        )
    except GatewayUnavailable as exc:
        raise errors.Unavailable(
            "the payment gateway cannot be reached; retry with the same idempotency key"
        ) from exc
    payment.attach_checkout(attempt.id, checkout.gateway_ref, checkout.checkout_url, now)
    await book(ctx, uow, payment, now)


async def _pay_from_wallet(ctx: Context, uow: PaymentUnit, payment: Payment, now: datetime) -> None:
    wallet = await uow.wallets.lock(payment.patient_id, [payment.currency], now)
    try:
        confirmation = pay_from_wallet(payment, wallet, ctx.settings.payouts, now)
    except InsufficientWalletBalance as short:
        # The failed attempt stays, so the patient can switch this intent to the gateway;
        # the caller learns which intent and attempt to retry from the error.
        await book(ctx, uow, payment, now)
        attempt = payment.latest_attempt
        short.metadata = {
            **short.metadata,
            "payment_id": payment.id,
            "attempt_id": attempt.id if attempt else "",
        }
        raise RefusedAfterEffect(short) from None
    await uow.ledger.post(confirmation.transaction)
    await uow.wallets.save(wallet)
    for payout in confirmation.payouts:
        await uow.payouts.save(payout)
    await book(ctx, uow, payment, now)


async def settle_payment(ctx: Context, uow: PaymentUnit, cmd: SettlePayment) -> Payment:
    """The one settle path of webhooks, ConfirmPayment and reconciliation: reads the truth
    of the payment's undecided sessions (or of the one a hint names) from the gateway,
    then, under the payment's lock, moves it forward and books what that means. A
    gateway that cannot be reached changes nothing: the payment stays as it was."""
    payment_id, viewer, hint = cmd.payment_id, cmd.viewer, cmd.hint
    async with uow:
        uow.payments.acting(cmd.action)
        if hint and viewer is None:
            # The gateway's own webhook names its session: the payment is read once, under
            # its lock, and only that session's truth is asked for, which holds the lock
            # over one call, as a confirmation does. The payment's other undecided
            # sessions and refunds have webhooks and reconciliation of their own.
            payment = await load(uow, payment_id, viewer, lock=True)
            truths = await _read_checkouts(ctx, [hint] if payment.has_attempt_at(hint) else [])
            refund_truths: list[GatewayRefundTruth] = []
        else:
            payment = await load(uow, payment_id, viewer, lock=False)
            refs = [a.gateway_ref for a in payment.attempts if a.gateway_ref and a.is_pending]
            if hint and hint not in refs and payment.has_attempt_at(hint):
                refs.append(hint)
            truths = await _read_checkouts(ctx, refs)
            refund_truths = []
            for refund in payment.refunds:
                if refund.status is RefundStatus.PENDING and refund.gateway_ref:
                    try:
                        refund_truths.append(
                            await ctx.gateway.read_refund(refund.id, refund.gateway_ref)
                        )
                    except GatewayUnavailable:
                        continue
            payment = await load(uow, payment_id, viewer, lock=True)
        now = ctx.clock()
        for truth in truths:
            await _settle_truth(ctx, payment, truth, now)
        for refund_truth in refund_truths:
            settle_refund(payment, refund_truth, now)
        await follow_up(ctx, payment, now)
        await book(ctx, uow, payment, now)
        await uow.commit()
        return payment


async def confirm_payment(ctx: Context, uow: PaymentUnit, cmd: ConfirmPayment) -> Payment:
    """Settle the payment as a webhook would, reading the gateway at most once per payment
    every `gateway_calls.check_every`; in between, answer with the payment as stored.

    The payment's row stays locked from the check to the commit, so of two confirmations
    at once one reads the gateway and the other answers with what it found. A caller who
    may not see the payment changes nothing: the whole unit rolls back.
    """
    async with uow:
        last_checked_at = await uow.payments.gateway_checked_at(cmd.payment_id)
        now = ctx.clock()
        if not ctx.settings.gateway_calls.check_due(last_checked_at, now):
            return await load(uow, cmd.payment_id, cmd.viewer, lock=False)
        await uow.payments.mark_gateway_checked(cmd.payment_id, now)
        uow.payments.acting(Action("confirm", cmd.actor))
        settling = SettlePayment(cmd.payment_id, cmd.viewer, cmd.gateway_ref)
        payment = await settle_payment(ctx, uow, settling)
        # settle's own commit joins this unit; only this one ends it.
        await uow.commit()
        return payment


async def _read_checkouts(ctx: Context, refs: list[str]) -> list[GatewayTruth]:
    """The gateway's truth of each session it answers for; one it cannot be asked about
    now is left for the next webhook or reconciliation."""
    truths = []
    for ref in refs:
        try:
            truths.append(await ctx.gateway.read_checkout(ref))
        except GatewayUnavailable:
            continue
    return truths


async def _settle_truth(
    ctx: Context, payment: Payment, truth: GatewayTruth | None, now: datetime
) -> Change:
    return Change.NONE if truth is None else settle(payment, truth, now)


async def _expire(ctx: Context, checkout_ref: str) -> GatewayTruth | None:
    try:
        return await ctx.gateway.expire_checkout(checkout_ref)
    except GatewayUnavailable:
        return None


async def expire_payment(ctx: Context, uow: PaymentUnit, cmd: ExpirePayment) -> Payment:
    """Closes an intent never paid by its expiry, closing its gateway session first; a
    session paid at the last moment confirms the payment instead."""
    async with uow:
        uow.payments.acting(Action("expire", PAYMENT))
        payment = await load(uow, cmd.payment_id, None, lock=True)
        now = ctx.clock()
        for attempt in list(payment.attempts):
            if attempt.is_pending and attempt.gateway_ref and payment.is_open:
                await _settle_truth(ctx, payment, await _expire(ctx, attempt.gateway_ref), now)
        # A session the gateway has not answered for holds expiry back for the grace
        # period, while reconciliation keeps asking.
        with contextlib.suppress(AttemptStillOpen):
            payment.expire(now, ctx.settings.pending_grace)
        await follow_up(ctx, payment, now)
        await book(ctx, uow, payment, now)
        await uow.commit()
        return payment
