"""A purchasing context says who does the work a line of a confirmed payment pays for now
(PayeeAssigned), and the line's held payout follows (domain/payees.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runtime.money import Money
from services.payment.domain.ids import derived_id
from services.payment.domain.ledger import GATEWAY_FEES, Memo
from services.payment.domain.payees import LinePayee, change_payee, check_payee_change
from services.payment.domain.payment import Payment
from services.payment.handlers.context import Context
from services.payment.handlers.payments import load
from services.payment.handlers.recording import post
from services.payment.handlers.refunds import ensure_purchaser
from services.payment.handlers.unit_of_work import PaymentUnit


@dataclass(frozen=True)
class PayeeAssigned:
    payment_id: str
    line: int
    # None: the platform.
    doctor_id: str | None
    # The purchasing context's number for this change; only a higher one applies.
    assignment: int
    assigned_at: datetime
    purchaser: str


async def payee_assigned(ctx: Context, uow: PaymentUnit, news: PayeeAssigned) -> None:
    async with uow:
        # The payment's row lock orders every change of its payees and refunds.
        payment = await load(uow, news.payment_id, None, lock=True)
        ensure_purchaser(payment, news.purchaser)
        to = LinePayee(payment.id, news.line, news.doctor_id, news.assignment, news.assigned_at)
        check_payee_change(payment, to)
        change = change_payee(
            payment,
            await uow.payees.of_line(payment, news.line),
            to,
            await uow.payouts.of_payment(payment.id, for_update=True),
            ctx.settings.payouts,
            await _gateway_fee(uow, payment),
        )
        if change is not None:
            if change.transaction is not None:
                await post(uow, change.transaction)
            # The moved payout first: a line has one payout not moved on at any time.
            for payout in change.payouts:
                await uow.payouts.save(payout)
            await uow.payees.save(change.payee)
        await uow.commit()


async def _gateway_fee(uow: PaymentUnit, payment: Payment) -> Money:
    """What the gateway kept of the capture, as its confirmation posted it (nothing for a
    wallet payment): the fee of that day, whatever the price list says now."""
    confirmation = derived_id(payment.id, "ledger", Memo.PAYMENT_CONFIRMED.value)
    entries = await uow.ledger.page(
        payment_id=payment.id,
        transaction_id=confirmation,
        account=GATEWAY_FEES,
        after=None,
        limit=2,
    )
    fee = sum(posted.entry.amount.amount_minor for posted in entries)
    return Money(fee, payment.currency)
