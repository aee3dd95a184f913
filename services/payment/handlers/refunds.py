"""Refunds, asked for by a service or an admin over gRPC, or by a purchasing context's
event: PurchaseRejected (the slot was taken: everything back) or RefundRequested (a
cancellation's share). The refund's key makes each request one refund however often it
arrives; a gateway refund is sent at once and settled by the gateway's answer."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from runtime.db import UnitOfWork
from services.payment.domain.errors import NothingLeftToRefund
from services.payment.domain.money import Money
from services.payment.domain.payment import Payment
from services.payment.domain.refund import Refund, RefundDestination
from services.payment.domain.refunding import request_refund
from services.payment.handlers.context import Context
from services.payment.handlers.payments import load
from services.payment.handlers.recording import Stores, book, follow_up


@dataclass(frozen=True)
class RefundPayment:
    payment_id: str
    # The same key is the same refund, whoever asks again.
    key: str
    # None refunds everything not yet refunded.
    amount: Money | None
    reason: str
    destination: RefundDestination = RefundDestination.ORIGINAL_METHOD


async def refund_payment(
    ctx: Context, uow: UnitOfWork, cmd: RefundPayment
) -> tuple[Payment, Refund]:
    async with uow:
        stores = Stores(uow.session)
        payment = await load(stores, cmd.payment_id, None, lock=True)
        now = ctx.clock()
        refund = request_refund(
            payment,
            key=cmd.key,
            amount=cmd.amount,
            reason=cmd.reason,
            destination=cmd.destination,
            at=now,
        )
        await follow_up(ctx, payment, now)
        await book(ctx, uow, payment, now)
        await uow.commit()
        return payment, payment.refund(refund.id)


def rejection_refund(payment_id: str, reason: str) -> RefundPayment:
    """The full refund of a purchase its context could not deliver. Its key is the
    payment's own, so redelivered or republished rejections refund once."""
    return RefundPayment(payment_id, f"refund:{payment_id}", None, reason)


async def refund_what_is_left(ctx: Context, uow: UnitOfWork, cmd: RefundPayment) -> None:
    """For events: a payment refunded in full already (by an admin, say) has nothing
    left to give back, which is not an error worth redelivering."""
    with contextlib.suppress(NothingLeftToRefund):
        await refund_payment(ctx, uow, cmd)


async def mark_fulfilled(ctx: Context, uow: UnitOfWork, payment_id: str) -> None:
    """The purchasing context delivered what was paid for: the orphan check stops here."""
    async with uow:
        await Stores(uow.session).payments.mark_fulfilled(payment_id, ctx.clock())
        await uow.commit()
