"""Refunds, asked for by a service or an admin over gRPC, or by a purchasing context's
event: PurchaseRejected (the slot was taken: everything back) or RefundRequested (a
cancellation's share). The refund's key makes each request one refund however often it
arrives; a gateway refund is sent at once and settled by the gateway's answer."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from runtime.money import Money
from services.payment import metrics
from services.payment.domain.audit import PAYMENT, Action, Actor
from services.payment.domain.errors import NothingLeftToRefund, NotThePurchasersPayment
from services.payment.domain.payment import Payment
from services.payment.domain.refund import Refund, RefundDestination
from services.payment.domain.refunding import request_refund
from services.payment.handlers.context import Context
from services.payment.handlers.payments import load
from services.payment.handlers.recording import book, follow_up
from services.payment.handlers.unit_of_work import PaymentUnit


@dataclass(frozen=True)
class RefundPayment:
    payment_id: str
    # The same key is the same refund, whoever asks again.
    key: str
    # None refunds everything not yet refunded.
    amount: Money | None
    reason: str
    destination: RefundDestination = RefundDestination.ORIGINAL_METHOD
    # The kind of purchase the asker made, when a purchasing context asks (by event, or a
    # service over gRPC): it may ask only for its own purchases' money back.
    purchaser: str | None = None
    # Who asked, for the payment's trail: an admin over gRPC, or the purchasing context
    # whose event asked (the system actor named for it).
    actor: Actor = PAYMENT


async def refund_payment(
    ctx: Context, uow: PaymentUnit, cmd: RefundPayment
) -> tuple[Payment, Refund]:
    async with uow:
        payment = await load(uow, cmd.payment_id, None, lock=True)
        ensure_purchaser(payment, cmd.purchaser)
        refund, made = await refund_locked(ctx, uow, payment, cmd)
        await uow.commit()
    if made:
        metrics.REFUNDS.labels(refund.reason).inc()
    return payment, payment.refund(refund.id)


async def refund_locked(
    ctx: Context, uow: PaymentUnit, payment: Payment, cmd: RefundPayment
) -> tuple[Refund, bool]:
    """Refunds `payment`, loaded under its lock in `uow`, which the caller commits; and
    whether the refund is new (not a repeated key's existing one), to be counted once
    committed."""
    uow.payments.acting(Action("refund", cmd.actor, cmd.reason))
    now = ctx.clock()
    known = len(payment.refunds)
    refund = request_refund(
        payment,
        key=cmd.key,
        amount=cmd.amount,
        reason=cmd.reason,
        destination=cmd.destination,
        at=now,
        gateway_step_minor=ctx.gateway.accepts.step(payment.currency),
    )
    await follow_up(ctx, payment, now)
    await book(ctx, uow, payment, now)
    return refund, len(payment.refunds) > known


async def void_locked(
    ctx: Context, uow: PaymentUnit, payment: Payment, cmd: RefundPayment
) -> tuple[Refund, bool]:
    """Refunds what is left of `payment` on payment's own initiative (an early fraud
    warning; an admin's refund-and-cancel would come this way too), and tells the
    purchasing context in the same commit, by PurchaseVoided, to release what was bought
    without asking for a refund. Only a new refund voids: the same key again changes
    nothing, and the purchasing context is idempotent on the payment anyway."""
    refund, made = await refund_locked(ctx, uow, payment, cmd)
    if made:
        payment.void(cmd.reason, ctx.clock())
        uow.publish(payment, correlation_id=payment.purchase.ref)
    return refund, made


def ensure_purchaser(payment: Payment, purchaser: str | None) -> None:
    if purchaser is not None and payment.purchase.kind != purchaser:
        raise NotThePurchasersPayment(payment.id, payment.purchase.kind, purchaser)


# What the purchasing contexts say about their purchases (`purchaser`: the kind of purchase
# the stream it came on may speak of).


@dataclass(frozen=True)
class PurchaseRejected:
    """The purchase could not be delivered: all of its money goes back."""

    payment_id: str
    reason: str
    purchaser: str


@dataclass(frozen=True)
class RefundRequested:
    """Part or all of a delivered purchase goes back (a cancellation's share, say)."""

    refund: RefundPayment


@dataclass(frozen=True)
class PurchaseFulfilled:
    """The purchase was delivered: the orphan check stops here."""

    payment_id: str
    purchaser: str


async def purchase_rejected(ctx: Context, uow: PaymentUnit, news: PurchaseRejected) -> None:
    """The full refund's key is the payment's own, so redelivered or republished
    rejections refund once."""
    refund = RefundPayment(
        news.payment_id,
        f"refund:{news.payment_id}",
        None,
        news.reason,
        purchaser=news.purchaser,
        actor=Actor.system(news.purchaser),
    )
    await _refund_what_is_left(ctx, uow, refund)


async def refund_requested(ctx: Context, uow: PaymentUnit, news: RefundRequested) -> None:
    asker = news.refund.purchaser
    refund = replace(news.refund, actor=Actor.system(asker)) if asker else news.refund
    await _refund_what_is_left(ctx, uow, refund)


async def _refund_what_is_left(ctx: Context, uow: PaymentUnit, cmd: RefundPayment) -> None:
    """For events: a payment refunded in full already (by an admin, say) has nothing
    left to give back, which is not an error worth redelivering."""
    with contextlib.suppress(NothingLeftToRefund):
        await refund_payment(ctx, uow, cmd)


async def purchase_fulfilled(ctx: Context, uow: PaymentUnit, news: PurchaseFulfilled) -> None:
    async with uow:
        fulfilled = await uow.payments.mark_fulfilled(news.payment_id, news.purchaser, ctx.clock())
        if not fulfilled:
            # Fulfilled already, or not this purchaser's to say: only the second is wrong.
            ensure_purchaser(await load(uow, news.payment_id, None, lock=False), news.purchaser)
        await uow.commit()
