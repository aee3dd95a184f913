"""One try at paying an intent: one gateway checkout session, or one wallet debit.

An attempt's status is the gateway's word only; nobat never decides on its own that a
session failed. Because webhooks, return URLs and reconciliation report in any order and
any number of times, an attempt only moves up this ladder and ignores anything lower:

    pending < failed < canceled < expired < captured

so a late "declined" never undoes a payment, and every order of the same reports leaves
the attempt in the same place. Captured money is on top, because it is real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from runtime.money import Money
from services.payment.domain.purchase import PaymentMethod


class AttemptStatus(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"


@dataclass(frozen=True, order=True)
class Failure:
    """Why an attempt failed: the gateway's decline code, or one of nobat's own below."""

    code: str
    message: str = ""


# The patient left the gateway's page.
CANCELED = Failure("canceled", "the payment was cancelled")
# The gateway's checkout session ran out.
EXPIRED = Failure("expired", "the payment window closed")
INSUFFICIENT_FUNDS = Failure("insufficient_funds", "the wallet balance is too low")
# A capture that cannot confirm the intent and is refunded in full at once.
AMOUNT_MISMATCH = "amount_mismatch"
DUPLICATE_CAPTURE = "duplicate_capture"

_RUNG = {
    AttemptStatus.PENDING: 0,
    AttemptStatus.FAILED: 1,
    AttemptStatus.CANCELED: 2,
    AttemptStatus.EXPIRED: 3,
}
_CAPTURED = 4


@dataclass
class Attempt:
    id: str
    # 1 for the intent's first attempt, then 2, 3, …
    number: int
    method: PaymentMethod
    created_at: datetime
    status: AttemptStatus = AttemptStatus.PENDING
    # The gateway's checkout session id; empty for wallet attempts and until the gateway
    # has answered the create call.
    gateway_ref: str = ""
    checkout_url: str = ""
    failure: Failure | None = None
    # What the gateway (or the wallet) actually took for this attempt. Set also when the
    # capture was rejected (wrong amount, second capture), because that money is real too.
    captured: Money | None = None
    settled_at: datetime | None = None

    @property
    def is_pending(self) -> bool:
        return self.status is AttemptStatus.PENDING

    @property
    def may_still_be_paid(self) -> bool:
        """Its gateway page may still take a payment: it is open, or it declined a card
        (or a 3-D Secure challenge failed), after which a Checkout page stays payable
        until closed or expired."""
        return self.is_pending or self.status is AttemptStatus.FAILED

    def _rung(self) -> tuple[int, Failure]:
        if self.captured is not None:
            return (_CAPTURED, Failure(""))
        return (_RUNG[self.status], self.failure or Failure(""))

    def fail(self, status: AttemptStatus, failure: Failure, at: datetime) -> bool:
        """Records a failure the gateway reported, if it is higher on the ladder than what
        is recorded. Two failures on the same rung are ordered by their code and message:
        reports arrive out of order, so "the latest" is unknowable, and any fixed choice
        makes every order agree. Returns whether anything changed."""
        if status not in (AttemptStatus.FAILED, AttemptStatus.CANCELED, AttemptStatus.EXPIRED):
            raise ValueError(f"{status} is not a failure")
        if (_RUNG[status], failure) <= self._rung():
            return False
        self.status = status
        self.failure = failure
        self.settled_at = at
        return True

    def capture(self, amount: Money, at: datetime) -> None:
        self.captured = amount
        self.status = AttemptStatus.SUCCEEDED
        self.failure = None
        self.settled_at = at

    def reject_capture(self, amount: Money, failure: Failure, at: datetime) -> None:
        """The gateway took money that cannot pay this intent: recorded as a failed attempt
        that captured, so the money is refunded and never lost from view."""
        self.captured = amount
        self.status = AttemptStatus.FAILED
        self.failure = failure
        self.settled_at = at
