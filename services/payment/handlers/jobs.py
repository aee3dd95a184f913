"""Payment's periodic jobs. Each takes a short batch of what is due, handles every item in
its own transaction under its row lock, and is safe with a copy running on every replica:
two copies meeting on one item wait on its lock, and the second finds nothing to do."""

from __future__ import annotations

import logging

from runtime.jobs import for_each
from services.payment.domain.events import Change
from services.payment.domain.postings import post_release
from services.payment.handlers.context import Context
from services.payment.handlers.payments import (
    due_for_check,
    expire_payment,
    load,
    open_past_expiry,
    settle_payment,
)
from services.payment.handlers.unit_of_work import PaymentUnit

log = logging.getLogger(__name__)


async def reconcile(ctx: Context) -> int:
    """Asks the gateway about payments whose sessions or refunds are still undecided."""
    ids = await due_for_check(ctx, ctx.unit_of_work())
    return await for_each(
        ids, lambda pid: settle_payment(ctx, ctx.unit_of_work(), pid), "reconcile"
    )


async def expire_payments(ctx: Context) -> int:
    ids = await open_past_expiry(ctx, ctx.unit_of_work())
    return await for_each(ids, lambda pid: expire_payment(ctx, ctx.unit_of_work(), pid), "expire")


async def release_payouts(ctx: Context) -> int:
    """Ends the hold of payouts whose time has come: payable becomes available."""
    uow = ctx.unit_of_work()
    async with uow:
        ids = await uow.payouts.due(ctx.clock(), ctx.settings.batch)
    return await for_each(ids, lambda pid: _release(ctx, ctx.unit_of_work(), pid), "release payout")


async def _release(ctx: Context, uow: PaymentUnit, payout_id: str) -> None:
    async with uow:
        payout = await uow.payouts.get(payout_id, for_update=True)
        if payout is None or payout.release(ctx.clock()) is Change.NONE:
            return
        transaction = post_release(payout)
        if transaction is not None:
            await uow.ledger.post(transaction)
        await uow.payouts.save(payout)
        uow.publish(payout, correlation_id=payout.payment_id)
        await uow.commit()


async def republish_orphans(ctx: Context) -> int:
    """Publishes PaymentConfirmed again for payments neither fulfilled nor refunded after
    the grace period (a lost event, a context that was down too long), at most once per
    grace period each. Returns how many such payments there are: the orphan_payments
    gauge, which must come back to 0."""
    uow = ctx.unit_of_work()
    async with uow:
        cutoff = ctx.clock() - ctx.settings.orphan_grace
        count, due = await uow.payments.orphans(cutoff)
    await for_each(due, lambda pid: _republish(ctx, ctx.unit_of_work(), pid), "republish")
    return count


async def _republish(ctx: Context, uow: PaymentUnit, payment_id: str) -> None:
    async with uow:
        payment = await load(uow, payment_id, None, lock=True)
        log.warning("payment %s is confirmed but unfulfilled; publishing it again", payment.id)
        payment.repeat_confirmation()
        uow.publish(payment, correlation_id=payment.purchase.ref)
        await uow.payments.mark_republished(payment.id, ctx.clock())
        await uow.commit()
