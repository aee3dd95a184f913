"""Payment's periodic jobs. Each takes a short batch of what is due, handles every item in
its own transaction under its row lock, and is safe with a copy running on every replica:
two copies meeting on one item wait on its lock, and the second finds nothing to do."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from runtime.jobs import for_each, sweep
from services.payment.domain.events import Change
from services.payment.domain.postings import post_release
from services.payment.handlers.context import Context
from services.payment.handlers.payments import (
    ExpirePayment,
    SettlePayment,
    expire_payment,
    load,
    settle_payment,
)
from services.payment.handlers.unit_of_work import PaymentUnit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleasePayout:
    """A payout whose hold has ended: payable becomes available to the doctor."""

    payout_id: str


@dataclass(frozen=True)
class RepublishConfirmation:
    """A payment confirmed, but neither fulfilled nor refunded after the grace period."""

    payment_id: str


async def reconcile(ctx: Context) -> int:
    """Asks the gateway about payments whose sessions or refunds are still undecided."""

    def due(uow: PaymentUnit):
        return uow.payments.due_for_check(ctx.clock(), ctx.settings.batch)

    return await sweep(ctx, due, settle_payment, SettlePayment, "reconcile")


async def expire_payments(ctx: Context) -> int:
    def lapsed(uow: PaymentUnit):
        return uow.payments.open_past_expiry(ctx.clock(), ctx.settings.batch)

    return await sweep(ctx, lapsed, expire_payment, ExpirePayment, "expire")


async def release_payouts(ctx: Context) -> int:
    def due(uow: PaymentUnit):
        return uow.payouts.due(ctx.clock(), ctx.settings.batch)

    return await sweep(ctx, due, release_payout, ReleasePayout, "release payout")


async def release_payout(ctx: Context, uow: PaymentUnit, cmd: ReleasePayout) -> None:
    async with uow:
        payout = await uow.payouts.get(cmd.payout_id, for_update=True)
        # An open dispute holds the payout past its date: the bank may take the money.
        if payout is None or await uow.disputes.hold(payout.payment_id):
            return
        if payout.release(ctx.clock()) is Change.NONE:
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
    grace period each. Reports how many such payments there are (`ctx.orphans`: the
    orphan payments gauge, which must come back to 0)."""
    async with ctx.unit_of_work() as uow:
        cutoff = ctx.clock() - ctx.settings.orphan_grace
        count, due = await uow.payments.orphans(cutoff)
    ctx.orphans(count)
    await for_each(
        due,
        lambda payment_id: republish_confirmation(
            ctx, ctx.unit_of_work(), RepublishConfirmation(payment_id)
        ),
        "republish",
    )
    return count


async def count_payments(ctx: Context) -> None:
    """Counts the payments by state for the gauges (`ctx.tallied`). Not in JOBS: a count
    of the whole table runs on a slower schedule of its own (bootstrap)."""
    async with ctx.unit_of_work() as uow:
        tally = await uow.payments.tally(ctx.clock())
    ctx.tallied(tally)


async def republish_confirmation(
    ctx: Context, uow: PaymentUnit, cmd: RepublishConfirmation
) -> None:
    async with uow:
        payment = await load(uow, cmd.payment_id, None, lock=True)
        log.warning("payment %s is confirmed but unfulfilled; publishing it again", payment.id)
        payment.repeat_confirmation()
        uow.publish(payment, correlation_id=payment.purchase.ref)
        await uow.payments.mark_republished(payment.id, ctx.clock())
        await uow.commit()
