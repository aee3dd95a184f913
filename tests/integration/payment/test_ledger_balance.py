"""The ledger's balance is PostgreSQL's to keep, not only the domain's: a transaction
whose entries do not add up to zero in each currency is refused at the commit (a
deferred constraint trigger), with everything else the unit wrote."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from runtime.db import sessionmaker
from runtime.events import PAYMENT
from runtime.money import Money
from services.payment.adapters.tables import ledger_entries, ledger_transactions
from services.payment.adapters.unit_of_work import PaymentUnitOfWork
from services.payment.domain.ledger import Account, AccountKind, Entry, LedgerTransaction, Memo

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _transfer(id: str, debit: int, credit: int) -> LedgerTransaction:
    """`debit` IRR into the patient's wallet from the gateway's clearing account, `credit`
    out; the domain refuses to make one that does not balance, so a bad one is forced."""
    balanced = LedgerTransaction(
        id,
        Memo.PAYMENT_CONFIRMED,
        "pay_1",
        (
            Entry(Account.patient_wallet("pat_1"), Money(debit, "IRR")),
            Entry(Account(AccountKind.GATEWAY_CLEARING), Money(-debit, "IRR")),
        ),
        AT,
    )
    entries = (
        balanced.entries[0],
        dataclasses.replace(balanced.entries[1], amount=Money(-credit, "IRR")),
    )
    object.__setattr__(balanced, "entries", entries)
    return balanced


async def _posted(engine) -> tuple[int, int]:
    async with engine.connect() as conn:
        transactions = await conn.scalar(select(func.count()).select_from(ledger_transactions))
        entries = await conn.scalar(select(func.count()).select_from(ledger_entries))
        return transactions, entries


async def test_an_unbalanced_ledger_transaction_is_refused_at_the_commit(engine):
    sessions = sessionmaker(engine)
    uow = PaymentUnitOfWork(sessions, PAYMENT)
    async with uow:
        await uow.ledger.post(_transfer("ltx_good", 5000, 5000))
        await uow.ledger.post(_transfer("ltx_off", 5000, 4000))
        with pytest.raises(IntegrityError, match="ltx_off is off by 1000 IRR"):
            await uow.commit()
    assert await _posted(engine) == (0, 0)

    uow = PaymentUnitOfWork(sessions, PAYMENT)
    async with uow:
        await uow.ledger.post(_transfer("ltx_good", 5000, 5000))
        await uow.commit()
    assert await _posted(engine) == (1, 2)
