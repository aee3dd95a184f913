"""Disputes (chargebacks) and early fraud warnings: what a cardholder's bank does to a
payment after it was confirmed, as the gateway reports it.

A dispute is a case on one payment. It follows the gateway's truth, read afresh on every
webhook, so any order and any number of deliveries end in the same place:

    open ──> won
         └─> lost

and once closed it stays closed. Its money follows what the gateway did with it:

- a chargeback takes the disputed amount back from the gateway's balance at once:
  `gateway_clearing` gives it to `disputed`, where it waits for the bank (an inquiry,
  Stripe's `warning_*`, takes nothing until it becomes a chargeback);
- won, the gateway gives it back: `disputed` to `gateway_clearing`;
- lost, it is gone: the doctor's payouts of the payment still held are taken back in full
  (a lost chargeback is the patient's money returned by force, and the doctor is not paid
  for it), and whatever the doctors do not give back is the platform's `dispute_losses`.

While a case is open, the payment's held payouts stay held whatever their release date
(the payout job skips them): a doctor is not paid money the bank may take back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from runtime.money import Money
from services.payment.domain.ids import derived_id
from services.payment.domain.ledger import (
    DISPUTE_LOSSES,
    DISPUTED,
    GATEWAY_CLEARING,
    Account,
    Entry,
    LedgerTransaction,
    Memo,
)
from services.payment.domain.payouts import FeeBearer, Payout, PayoutStatus


class DisputeStatus(Enum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class DisputeTruth:
    """A dispute as the gateway has it now."""

    gateway_ref: str
    # nobat's payment, from the metadata on the disputed payment's intent; empty when
    # the disputed charge is not one of nobat's.
    payment_id: str
    amount: Money
    reason: str
    status: DisputeStatus
    # The bank took the money back (a chargeback); False for an inquiry.
    withdrawn: bool


@dataclass
class Dispute:
    id: str
    payment_id: str
    gateway_ref: str
    amount: Money
    reason: str
    status: DisputeStatus
    withdrawn: bool
    opened_at: datetime
    closed_at: datetime | None = None

    @classmethod
    def open(cls, truth: DisputeTruth, at: datetime) -> Dispute:
        """The case, as first heard of: open, whatever the truth says, so that a case heard
        of only once it closed still posts its money's whole way (`follow`)."""
        return cls(
            dispute_id(truth.payment_id, truth.gateway_ref),
            truth.payment_id,
            truth.gateway_ref,
            truth.amount,
            truth.reason,
            DisputeStatus.OPEN,
            withdrawn=False,
            opened_at=at,
        )

    @property
    def is_open(self) -> bool:
        return self.status is DisputeStatus.OPEN

    def follow(
        self, truth: DisputeTruth, payouts: Sequence[Payout], at: datetime
    ) -> list[LedgerTransaction]:
        """Moves the case to the gateway's truth; the ledger transactions that says, none
        when nothing changed. `payouts` are the payment's, under its lock; a lost case
        reverses those still held."""
        if not self.is_open:
            return []
        posted = []
        # A lost case took the money even if no event ever said it was withdrawn.
        if (truth.withdrawn or truth.status is DisputeStatus.LOST) and not self.withdrawn:
            self.withdrawn = True
            posted.append(self._posting(Memo.DISPUTE_FUNDS_WITHDRAWN, self._withdrawal(), at))
        if truth.status is DisputeStatus.OPEN:
            return posted
        self.status = truth.status
        self.closed_at = at
        if self.withdrawn and truth.status is DisputeStatus.WON:
            back = [Entry(entry.account, -entry.amount) for entry in self._withdrawal()]
            posted.append(self._posting(Memo.DISPUTE_WON, back, at))
        elif truth.status is DisputeStatus.LOST:
            posted.append(self._posting(Memo.DISPUTE_LOST, self._loss(payouts, at), at))
        return posted

    def _withdrawal(self) -> list[Entry]:
        return [Entry(GATEWAY_CLEARING, -self.amount), Entry(DISPUTED, self.amount)]

    def _loss(self, payouts: Sequence[Payout], at: datetime) -> list[Entry]:
        entries = [Entry(DISPUTED, -self.amount)]
        left = self.amount
        for payout in payouts:
            if payout.status is not PayoutStatus.HELD:
                continue
            # Taken back whole, so who bears the gateway's fee does not arise.
            net = payout.take_back(payout.split.gross, FeeBearer.PLATFORM, at)
            entries.append(Entry(Account.doctor_payable(payout.doctor_id), net))
            left -= net
        entries.append(Entry(DISPUTE_LOSSES, left))
        return entries

    def _posting(self, memo: Memo, entries: list[Entry], at: datetime) -> LedgerTransaction:
        return LedgerTransaction.of(
            derived_id(self.id, "ledger", memo.value), memo, self.payment_id, entries, at
        )


def dispute_id(payment_id: str, gateway_ref: str) -> str:
    return derived_id(payment_id, "dispute", gateway_ref)


@dataclass(frozen=True)
class FraudWarningTruth:
    gateway_ref: str
    payment_id: str
    # The gateway's words: made_with_stolen_card, ...
    fraud_type: str
    # Whether refunding could still head off a dispute.
    actionable: bool


@dataclass(frozen=True)
class FraudWarning:
    id: str
    payment_id: str
    gateway_ref: str
    fraud_type: str
    actionable: bool
    received_at: datetime
    # nobat's refund made because of it; empty when none was.
    refund_id: str = ""

    @classmethod
    def of(cls, truth: FraudWarningTruth, at: datetime, refund_id: str = "") -> FraudWarning:
        return cls(
            derived_id(truth.payment_id, "fraud_warning", truth.gateway_ref),
            truth.payment_id,
            truth.gateway_ref,
            truth.fraud_type,
            truth.actionable,
            at,
            refund_id,
        )


# The refund a fraud warning asks for: one per payment, whoever warns again.
def fraud_refund_key(payment_id: str) -> str:
    return f"fraud_warning:{payment_id}"
