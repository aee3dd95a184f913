"""A patient's prepaid wallet: one balance per currency, never negative.

The ledger is the wallet's truth: a balance is minus the sum of the entries on the
patient's wallet account (credits add to it), and the only way to change one is to post
a ledger transaction through `Wallet.post`, which refuses any that would take a balance
below zero. A top-up is a purchase like any other, credited only when its payment is
confirmed; paying from the wallet debits it and confirms the payment in one step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from runtime.money import Money
from services.payment.domain import attempt as attempts
from services.payment.domain.attempt import AttemptStatus
from services.payment.domain.errors import InsufficientWalletBalance
from services.payment.domain.fees import NO_GATEWAY_FEES
from services.payment.domain.ids import derived_id
from services.payment.domain.ledger import Account, Entry, LedgerTransaction
from services.payment.domain.payment import Payment
from services.payment.domain.payouts import PayoutRules
from services.payment.domain.postings import Confirmation, post_confirmation
from services.payment.domain.purchase import (
    WALLET_TOP_UP,
    PayeeKind,
    PayeeLine,
    PaymentMethod,
    Purchase,
)
from services.payment.domain.settlement import record_capture, record_failure


class WalletTransactionKind(Enum):
    TOP_UP = "top_up"
    # A purchase paid from the wallet.
    PAYMENT = "payment"
    REFUND = "refund"


@dataclass(frozen=True)
class WalletTransaction:
    """One movement of one balance, as the patient's statement shows it."""

    id: str
    patient_id: str
    kind: WalletTransactionKind
    # Positive credits the wallet, negative debits it.
    amount: Money
    balance_after: Money
    payment_id: str
    created_at: datetime


@dataclass
class Wallet:
    patient_id: str
    # Minor units per currency; a currency never used is absent rather than zero.
    balances: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None
    # Movements posted since the wallet was loaded, for the handler to store.
    transactions: list[WalletTransaction] = field(default_factory=list, compare=False)

    @classmethod
    def from_entries(cls, patient_id: str, entries: Iterable[Entry]) -> Wallet:
        """The wallet as the ledger's entries say it is."""
        account = Account.patient_wallet(patient_id)
        balances: dict[str, int] = defaultdict(int)
        for entry in entries:
            if entry.account == account:
                balances[entry.amount.currency] -= entry.amount.amount_minor
        if any(amount < 0 for amount in balances.values()):
            raise ValueError(f"the ledger has wallet {patient_id} below zero: {dict(balances)}")
        return cls(patient_id, dict(balances))

    @property
    def account(self) -> Account:
        return Account.patient_wallet(self.patient_id)

    def balance(self, currency: str) -> Money:
        return Money(self.balances.get(currency, 0), currency)

    @property
    def holdings(self) -> list[Money]:
        return [Money(amount, currency) for currency, amount in sorted(self.balances.items())]

    def require(self, amount: Money) -> None:
        """Refuses, with the shortfall, to pay `amount` from a balance that is too low."""
        balance = self.balance(amount.currency)
        if balance < amount:
            raise InsufficientWalletBalance(self.patient_id, balance, amount)

    def post(
        self, transaction: LedgerTransaction, kind: WalletTransactionKind
    ) -> list[WalletTransaction]:
        """Applies the transaction's entries on this wallet; refuses the whole of it if any
        balance would go below zero. Returns the movements, also kept in `transactions`."""
        moves: dict[str, int] = defaultdict(int)
        for entry in transaction.entries:
            if entry.account == self.account:
                moves[entry.amount.currency] -= entry.amount.amount_minor
        for currency, amount in moves.items():
            if self.balances.get(currency, 0) + amount < 0:
                self.require(Money(-amount, currency))
        posted = []
        for currency, amount in sorted(moves.items()):
            after = self.balances.get(currency, 0) + amount
            self.balances[currency] = after
            posted.append(
                WalletTransaction(
                    derived_id(transaction.id, "wallet", self.patient_id, currency),
                    self.patient_id,
                    kind,
                    Money(amount, currency),
                    Money(after, currency),
                    transaction.payment_id,
                    transaction.created_at,
                )
            )
        if posted:
            self.updated_at = transaction.created_at
        self.transactions += posted
        return posted


def pay_from_wallet(
    payment: Payment, wallet: Wallet, rules: PayoutRules, at: datetime
) -> Confirmation:
    """Pays `payment` from the patient's wallet and confirms it, in one step (the handler
    holds the wallet's row lock). On a short balance the failed attempt stays on the
    payment (so RetryPayment can switch to the gateway) and InsufficientWalletBalance is
    raised with the shortfall; the handler commits the attempt and then reports the error.
    """
    if wallet.patient_id != payment.patient_id:
        raise ValueError(f"wallet {wallet.patient_id} is not the payer's ({payment.patient_id})")
    attempt = payment.start_attempt(PaymentMethod.WALLET, at)
    try:
        wallet.require(payment.amount)
    except InsufficientWalletBalance:
        record_failure(payment, attempt.id, AttemptStatus.FAILED, attempts.INSUFFICIENT_FUNDS, at)
        raise
    record_capture(payment, attempt.id, payment.amount, at)
    confirmation = post_confirmation(payment, rules, NO_GATEWAY_FEES)
    wallet.post(confirmation.transaction, WalletTransactionKind.PAYMENT)
    return confirmation


def top_up(
    *,
    payment_id: str,
    patient_id: str,
    amount: Money,
    created_at: datetime,
    expires_at: datetime,
    return_url: str = "",
) -> Payment:
    """A top-up of the patient's own wallet: a purchase paid through the gateway, whose
    one line is the wallet, credited when (and only when) the payment is confirmed."""
    return Payment.create(
        id=payment_id,
        purchase=Purchase(WALLET_TOP_UP, payment_id),
        patient_id=patient_id,
        amount=amount,
        lines=[PayeeLine(PayeeKind.WALLET, patient_id, amount, "Wallet top-up")],
        method=PaymentMethod.GATEWAY,
        created_at=created_at,
        expires_at=expires_at,
        return_url=return_url,
        description="Wallet top-up",
    )
