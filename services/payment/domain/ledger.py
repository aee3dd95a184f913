"""The double-entry ledger: every movement of money is a transaction whose entries sum to
zero in each currency, so money is only ever moved, never made or lost.

Entries are signed: positive debits an account, negative credits it. Assets and costs
(gateway clearing, gateway fees, refunds the platform absorbed) grow with debits; what
nobat owes or earned (wallets, doctors' payables, platform revenue) grows with credits,
so a wallet's balance is minus the sum of its entries.

    gateway_clearing    what the gateway captured for us and has not settled yet
    patient_wallet      a patient's prepaid money (owner: the patient)
    platform_revenue    platform fees, and what the platform sells itself
    gateway_fees        what gateways kept of captures
    doctor_payable      a doctor's earnings inside the hold period (owner: the doctor)
    doctor_available    a doctor's earnings released for payout (owner: the doctor)
    refunds             refunds the platform absorbed (debit), and captures being returned
                        (credit until the refund succeeds)
    disputed            what the gateway took back for a dispute the bank has not decided
    dispute_losses      disputes lost, less what the doctors gave back (domain/disputes.py)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from runtime.money import Money
from services.payment.domain.errors import LedgerTransactionUnbalanced


class AccountKind(Enum):
    GATEWAY_CLEARING = "gateway_clearing"
    PATIENT_WALLET = "patient_wallet"
    PLATFORM_REVENUE = "platform_revenue"
    GATEWAY_FEES = "gateway_fees"
    DOCTOR_PAYABLE = "doctor_payable"
    DOCTOR_AVAILABLE = "doctor_available"
    REFUNDS = "refunds"
    DISPUTED = "disputed"
    DISPUTE_LOSSES = "dispute_losses"


_OWNED = frozenset(
    {AccountKind.PATIENT_WALLET, AccountKind.DOCTOR_PAYABLE, AccountKind.DOCTOR_AVAILABLE}
)


@dataclass(frozen=True)
class Account:
    kind: AccountKind
    # The patient of a wallet, the doctor of a doctor's account; empty for the platform's.
    owner_id: str = ""

    def __post_init__(self) -> None:
        if (self.kind in _OWNED) != bool(self.owner_id):
            raise ValueError(f"{self.kind.value} accounts are owned iff per person: {self!r}")

    @classmethod
    def patient_wallet(cls, patient_id: str) -> Account:
        return cls(AccountKind.PATIENT_WALLET, patient_id)

    @classmethod
    def doctor_payable(cls, doctor_id: str) -> Account:
        return cls(AccountKind.DOCTOR_PAYABLE, doctor_id)

    @classmethod
    def doctor_available(cls, doctor_id: str) -> Account:
        return cls(AccountKind.DOCTOR_AVAILABLE, doctor_id)


GATEWAY_CLEARING = Account(AccountKind.GATEWAY_CLEARING)
PLATFORM_REVENUE = Account(AccountKind.PLATFORM_REVENUE)
GATEWAY_FEES = Account(AccountKind.GATEWAY_FEES)
REFUNDS = Account(AccountKind.REFUNDS)
DISPUTED = Account(AccountKind.DISPUTED)
DISPUTE_LOSSES = Account(AccountKind.DISPUTE_LOSSES)


@dataclass(frozen=True)
class Entry:
    account: Account
    # Positive debits the account, negative credits it.
    amount: Money


class Memo(Enum):
    """Why a transaction was written."""

    PAYMENT_CONFIRMED = "payment_confirmed"
    CAPTURE_REJECTED = "capture_rejected"
    REFUND = "refund"
    PAYOUT_RELEASED = "payout_released"
    # A line's held payout moved to whoever does the work now (payees.change_payee).
    PAYEE_CHANGED = "payee_changed"
    # A chargeback took the disputed amount; the bank decided for nobat, or against.
    DISPUTE_FUNDS_WITHDRAWN = "dispute_funds_withdrawn"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"


@dataclass(frozen=True)
class LedgerTransaction:
    id: str
    memo: Memo
    payment_id: str
    entries: tuple[Entry, ...]
    created_at: datetime

    def __post_init__(self) -> None:
        if len(self.entries) < 2 or any(entry.amount.is_zero for entry in self.entries):
            raise ValueError(f"a transaction moves money between accounts: {self.entries!r}")
        sums: dict[str, int] = defaultdict(int)
        for entry in self.entries:
            sums[entry.amount.currency] += entry.amount.amount_minor
        off = {currency: amount for currency, amount in sums.items() if amount}
        if off:
            raise LedgerTransactionUnbalanced(self.memo.value, off)

    @classmethod
    def of(
        cls, id: str, memo: Memo, payment_id: str, entries: Iterable[Entry], at: datetime
    ) -> LedgerTransaction:
        """A transaction of the entries that move something: zero legs (a fee of nothing,
        a line with no net left) are left out rather than written as noise."""
        moving = tuple(entry for entry in entries if not entry.amount.is_zero)
        return cls(id, memo, payment_id, moving, at)

    def amount_on(self, account: Account, currency: str) -> Money:
        """The sum of this transaction's entries on `account`, in `currency`."""
        return balance(account, currency, self.entries)


@dataclass(frozen=True)
class PostedEntry:
    """One leg of a posted transaction, as the ledger's reader sees it."""

    id: int
    transaction_id: str
    memo: Memo
    payment_id: str
    entry: Entry
    created_at: datetime


def balance(account: Account, currency: str, entries: Iterable[Entry]) -> Money:
    """The sum of `entries` on `account` in `currency` (positive: a debit balance)."""
    amount = sum(
        entry.amount.amount_minor
        for entry in entries
        if entry.account == account and entry.amount.currency == currency
    )
    return Money(amount, currency)
