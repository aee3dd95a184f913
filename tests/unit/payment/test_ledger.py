from __future__ import annotations

import pytest

from runtime.errors import FailedPrecondition
from runtime.money import Money
from services.payment.domain.errors import LedgerTransactionUnbalanced
from services.payment.domain.ledger import (
    GATEWAY_CLEARING,
    PLATFORM_REVENUE,
    Account,
    AccountKind,
    Entry,
    LedgerTransaction,
    Memo,
    balance,
)
from tests.unit.payment.builders import T0, usd

WALLET = Account.patient_wallet("patient-1")


def transaction(*entries: Entry) -> LedgerTransaction:
    return LedgerTransaction("t-1", Memo.PAYMENT_CONFIRMED, "payment-1", entries, T0)


def test_a_transaction_whose_entries_sum_to_zero_is_written() -> None:
    written = transaction(Entry(GATEWAY_CLEARING, usd(100)), Entry(PLATFORM_REVENUE, usd(-100)))
    assert written.amount_on(GATEWAY_CLEARING, "USD") == usd(100)


def test_a_transaction_that_does_not_balance_is_refused_and_says_by_how_much() -> None:
    with pytest.raises(LedgerTransactionUnbalanced) as refused:
        transaction(Entry(GATEWAY_CLEARING, usd(100)), Entry(PLATFORM_REVENUE, usd(-99)))
    assert isinstance(refused.value, FailedPrecondition)
    assert refused.value.metadata["off_by"] == "1 USD"


def test_a_transaction_balances_in_each_currency_on_its_own() -> None:
    with pytest.raises(LedgerTransactionUnbalanced) as refused:
        transaction(Entry(GATEWAY_CLEARING, usd(100)), Entry(PLATFORM_REVENUE, Money(-100, "EUR")))
    assert refused.value.metadata["off_by"] == "-100 EUR, 100 USD"


@pytest.mark.parametrize(
    "entries",
    [(), (Entry(WALLET, usd(0)), Entry(GATEWAY_CLEARING, usd(0))), (Entry(WALLET, usd(0)),)],
)
def test_a_transaction_moves_money_between_at_least_two_accounts(entries) -> None:
    with pytest.raises(ValueError):
        transaction(*entries)


def test_zero_legs_are_left_out_rather_than_written_as_noise() -> None:
    written = LedgerTransaction.of(
        "t-1",
        Memo.REFUND,
        "payment-1",
        [Entry(WALLET, usd(-5)), Entry(PLATFORM_REVENUE, usd(0)), Entry(GATEWAY_CLEARING, usd(5))],
        T0,
    )
    assert [entry.account for entry in written.entries] == [WALLET, GATEWAY_CLEARING]


def test_wallet_and_doctor_accounts_have_an_owner_and_the_platforms_do_not() -> None:
    assert Account.doctor_payable("d-1").kind is AccountKind.DOCTOR_PAYABLE
    with pytest.raises(ValueError):
        Account(AccountKind.PATIENT_WALLET)
    with pytest.raises(ValueError):
        Account(AccountKind.PLATFORM_REVENUE, "someone")


def test_an_accounts_balance_sums_its_entries_in_one_currency() -> None:
    entries = [
        Entry(WALLET, usd(-500)),
        Entry(WALLET, usd(200)),
        Entry(WALLET, Money(-7, "KWD")),
        Entry(GATEWAY_CLEARING, usd(300)),
    ]
    assert balance(WALLET, "USD", entries) == usd(-300)
    assert balance(WALLET, "KWD", entries) == Money(-7, "KWD")
