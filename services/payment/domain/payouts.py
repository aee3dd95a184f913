"""A doctor's share of one payee line of a confirmed payment, and its hold.

The share is held for a while after payment (30 days by default), so that a refund in that
time takes the money back from the doctor's share rather than from the platform; then a
job releases it, moving it from payable to available. A refund after release is the
platform's to absorb.

A refund before release shrinks the payout to what is left of its line. The split of what
is left is worked out afresh from the split at payment, never step by step, so several
partial refunds cannot drift by rounding:

- the doctor's net shrinks in proportion to what is left, rounded down, so a refund never
  raises what a doctor is owed (and a full refund leaves nothing: the payout is reversed);
- the gateway fee, which the gateway keeps on a refund, stays the doctor's when the
  setting says the doctor bears it, but never takes more than is left of the line: a
  refund never leaves a doctor owing money;
- the platform fee is the remainder, so the parts still add up to what is left.

When the work a line pays for changes hands before release (a consultation declined and
given to another doctor), the payout is not edited to name someone else: it is marked
moved, and the next payee gets a payout of its own carrying the same split and hold
(`hand_to`), while the ledger moves the net between them (postings.post_payee_change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from runtime.money import Money
from services.payment.domain.errors import PayoutStillHeld
from services.payment.domain.events import Change, PayoutReleased
from services.payment.domain.fees import FeeSplit
from services.payment.domain.ids import derived_id
from services.payment.domain.rounding import Rate


class PayoutStatus(Enum):
    HELD = "held"
    RELEASED = "released"
    # Refunded in full before release.
    REVERSED = "reversed"
    # Handed, with its money, to the line's next payee before release.
    MOVED = "moved"


class FeeBearer(Enum):
    """Who loses the gateway fee the gateway keeps when a payment is refunded."""

    PLATFORM = "platform"
    DOCTOR = "doctor"


@dataclass(frozen=True)
class PayoutRules:
    platform_fee: Rate = field(default_factory=lambda: Rate.percent(3))
    hold: timedelta = timedelta(days=30)
    # The patient is rarely refunded through the doctor's fault (a slot taken by another
    # payer, a consultation nobody took), so by default the platform bears the fee.
    gateway_fee_on_refund: FeeBearer = FeeBearer.PLATFORM

    def __post_init__(self) -> None:
        if self.hold < timedelta(0):
            raise ValueError(f"a payout hold cannot be negative: {self.hold}")


@dataclass
class Payout:
    id: str
    doctor_id: str
    payment_id: str
    # Which payee line of the payment, by position.
    line: int
    # The split when the payment was confirmed; refunds are measured against it.
    earned: FeeSplit
    # The split now, after refunds before release.
    split: FeeSplit
    earned_at: datetime
    release_at: datetime
    status: PayoutStatus = PayoutStatus.HELD
    released_at: datetime | None = None
    reversed_at: datetime | None = None
    # Which payee of the line this is: 0 as the payment was made, then each change's
    # number (services/payment/domain/payees.py).
    assignment: int = 0
    moved_at: datetime | None = None
    events: list[PayoutReleased] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def earn(
        cls,
        doctor_id: str,
        payment_id: str,
        line: int,
        split: FeeSplit,
        earned_at: datetime,
        rules: PayoutRules,
        assignment: int = 0,
    ) -> Payout:
        """`earned_at` is the payment's confirmation, whoever the line's payee is by now:
        the hold is the refund window of the payment, not of an assignment."""
        return cls(
            _payout_id(payment_id, line, assignment),
            doctor_id,
            payment_id,
            line,
            split,
            split,
            earned_at,
            earned_at + rules.hold,
            assignment=assignment,
        )

    @property
    def refunded(self) -> Money:
        return self.earned.gross - self.split.gross

    def take_back(self, amount: Money, bearer: FeeBearer, at: datetime) -> Money:
        """Shrinks a held payout by a refund of `amount` from its line. Returns the net the
        doctor gives back; the rest of `amount` is fees the platform gives back."""
        if self.status is not PayoutStatus.HELD:
            raise ValueError(f"payout {self.id} is {self.status.value}; only a held one shrinks")
        left = self.split.gross - amount
        if left.is_negative or amount.is_negative:
            raise ValueError(f"payout {self.id} has {self.split.gross} left, not {amount}")
        net_before = self.split.net
        self.split = _split_left(self.earned, left, bearer)
        if left.is_zero:
            self.status = PayoutStatus.REVERSED
            self.reversed_at = at
        return net_before - self.split.net

    def hand_to(self, doctor_id: str | None, assignment: int, at: datetime) -> Payout | None:
        """Moves this held payout to the line's next payee: this one is marked moved, and
        the doctor's payout carrying its split and hold on is returned (None when the
        platform takes it back)."""
        if self.status is not PayoutStatus.HELD:
            raise ValueError(f"payout {self.id} is {self.status.value}; only a held one moves")
        self.status = PayoutStatus.MOVED
        self.moved_at = at
        if doctor_id is None:
            return None
        return replace(
            self,
            id=_payout_id(self.payment_id, self.line, assignment),
            doctor_id=doctor_id,
            status=PayoutStatus.HELD,
            assignment=assignment,
            moved_at=None,
            events=[],
        )

    def release(self, at: datetime) -> Change:
        """Ends the hold; a payout already released or reversed is left alone."""
        if self.status is not PayoutStatus.HELD:
            return Change.NONE
        if at < self.release_at:
            raise PayoutStillHeld(self.id, self.release_at)
        self.status = PayoutStatus.RELEASED
        self.released_at = at
        self.events.append(
            PayoutReleased(
                self.id, self.doctor_id, self.payment_id, self.split.gross, self.split.net, at
            )
        )
        return Change.APPLIED


def current_payout(payouts: Sequence[Payout], line: int) -> Payout | None:
    """The line's payout that has not moved on: None while the platform holds the line."""
    return next((p for p in payouts if p.line == line and p.status is not PayoutStatus.MOVED), None)


def _payout_id(payment_id: str, line: int, assignment: int) -> str:
    # The first payee's id is the one payouts had before payees could change.
    if assignment == 0:
        return derived_id(payment_id, "payout", line)
    return derived_id(payment_id, "payout", line, assignment)


def _split_left(earned: FeeSplit, left: Money, bearer: FeeBearer) -> FeeSplit:
    """The split of `left` of a line first split as `earned` (see the module's notes)."""
    if left.is_zero:
        return FeeSplit.nothing(left.currency)

    def scaled(part: Money) -> int:
        return part.amount_minor * left.amount_minor // earned.gross.amount_minor

    if bearer is FeeBearer.PLATFORM:
        net = scaled(earned.net)
        gateway = scaled(earned.gateway_fee)
    else:
        net = max(0, scaled(earned.gross - earned.platform_fee) - earned.gateway_fee.amount_minor)
        gateway = min(earned.gateway_fee.amount_minor, left.amount_minor - net)
    currency = left.currency
    return FeeSplit(
        left,
        Money(left.amount_minor - net - gateway, currency),
        Money(gateway, currency),
        Money(net, currency),
    )
