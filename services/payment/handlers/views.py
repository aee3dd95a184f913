"""What payment shows: the read side of its RPCs, each a page of one list (or one wallet),
for a caller the servicer has already checked may see it."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.wire import PageRequest
from services.payment.domain.audit import PaymentEvent
from services.payment.domain.disputes import Dispute, DisputeStatus
from services.payment.domain.ledger import Account, PostedEntry
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.payouts import Payout, PayoutStatus
from services.payment.domain.wallet import Wallet, WalletTransaction
from services.payment.handlers.payments import Viewer, load
from services.payment.handlers.unit_of_work import PaymentUnit


@dataclass(frozen=True)
class PaymentsQuery:
    patient_id: str | None
    status: PaymentStatus | None
    # "booking" or "consultation"; None for every kind of purchase.
    kind: str | None


async def payments(
    uow: PaymentUnit, query: PaymentsQuery, asked: PageRequest
) -> tuple[list[Payment], str]:
    """Newest first."""
    async with uow:
        found = await uow.payments.page(**vars(query), after=asked.after, limit=asked.limit)
    return asked.cut(found, lambda payment: (payment.created_at, payment.id))


async def payment(uow: PaymentUnit, payment_id: str, viewer: Viewer | None) -> Payment:
    async with uow:
        return await load(uow, payment_id, viewer, lock=False)


async def wallet(uow: PaymentUnit, patient_id: str) -> Wallet:
    async with uow:
        return await uow.wallets.get(patient_id)


async def wallet_transactions(
    uow: PaymentUnit, patient_id: str, currency: str | None, asked: PageRequest
) -> tuple[list[tuple[int, WalletTransaction]], str]:
    """A patient's wallet history, newest first, as (sequence, transaction) rows."""
    async with uow:
        found = await uow.wallets.history(patient_id, currency, asked.after_key, asked.limit)
    return asked.cut(found, lambda row: (row[0],))


async def payouts(
    uow: PaymentUnit, doctor_id: str, status: PayoutStatus | None, asked: PageRequest
) -> tuple[list[tuple[int, Payout]], str]:
    """A doctor's payouts, newest first, as (sequence, payout) rows."""
    async with uow:
        found = await uow.payouts.page(doctor_id, status, asked.after_key, asked.limit)
    return asked.cut(found, lambda row: (row[0],))


async def payment_events(
    uow: PaymentUnit, payment_id: str, viewer: Viewer | None, asked: PageRequest
) -> tuple[list[PaymentEvent], str]:
    """A payment's trail in the order it happened, if `viewer` may see the payment."""
    async with uow:
        await load(uow, payment_id, viewer, lock=False)
        found = await uow.payments.events(payment_id, asked.after_key, asked.limit)
    return asked.cut(found, lambda event: (event.sequence,))


@dataclass(frozen=True)
class LedgerQuery:
    payment_id: str | None
    transaction_id: str | None
    account: Account | None


async def ledger_entries(
    uow: PaymentUnit, query: LedgerQuery, asked: PageRequest
) -> tuple[list[PostedEntry], str]:
    """In the order written."""
    async with uow:
        found = await uow.ledger.page(**vars(query), after=asked.after_key, limit=asked.limit)
    return asked.cut(found, lambda posted: (posted.id,))


async def disputes(
    uow: PaymentUnit, status: DisputeStatus | None, payment_id: str | None, asked: PageRequest
) -> tuple[list[tuple[int, Dispute]], str]:
    """Disputes, newest first, as (sequence, dispute) rows."""
    async with uow:
        found = await uow.disputes.page(status, payment_id, asked.after_key, asked.limit)
    return asked.cut(found, lambda row: (row[0],))
