"""A refund: money going back to the patient from one capture of a payment.

Refunds to the wallet succeed at once; refunds through the gateway wait, pending, for the
gateway's word. The gateway's word is final either way: a refund that succeeded is booked
money, and one that failed has given its amount back to what can be refunded, possibly
already to another refund. If the gateway later says the opposite, that is not a step
forward but a contradiction, and it is refused loudly for an operator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from runtime.errors import MalformedField
from runtime.money import Money, total
from services.payment.domain.attempt import Failure
from services.payment.domain.errors import RefundOutcomeContradicted

_REASON = re.compile(r"[a-z][a-z0-9_]{0,63}")


class RefundStatus(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundDestination(Enum):
    # Back the way it came: the wallet for wallet payments, the gateway otherwise.
    ORIGINAL_METHOD = "original_method"
    # To the patient's wallet at once, whatever the method (the patient's choice).
    WALLET = "wallet"


def check_reason(reason: str) -> str:
    if not _REASON.fullmatch(reason or ""):
        raise MalformedField("reason", "must be a machine code like slot_taken")
    return reason


@dataclass
class Refund:
    id: str
    # The caller's idempotency key: the same key is the same refund, whoever asks again.
    key: str
    # The attempt whose capture this refund returns.
    capture_id: str
    amount: Money
    # What the caller asked for: None meant "everything left". Kept to tell a repeated
    # request from a different one under the same key.
    requested: Money | None
    reason: str
    destination: RefundDestination
    via_gateway: bool
    created_at: datetime
    status: RefundStatus = RefundStatus.PENDING
    # The gateway's refund id; empty for refunds to the wallet.
    gateway_ref: str = ""
    failure: Failure | None = None
    # How much of each payee line this refund returned, in minor units, in line order;
    # fixed when it succeeds. Empty for the refund of a rejected capture, which was never
    # any payee's money.
    allocation: tuple[int, ...] = ()
    settled_at: datetime | None = None

    def same_request(
        self,
        capture_id: str,
        requested: Money | None,
        reason: str,
        destination: RefundDestination,
    ) -> bool:
        return (self.capture_id, self.requested, self.reason, self.destination) == (
            capture_id,
            requested,
            reason,
            destination,
        )

    def succeed(self, allocation: tuple[int, ...], at: datetime, gateway_ref: str = "") -> bool:
        if self.status is RefundStatus.SUCCEEDED:
            return False
        if self.status is RefundStatus.FAILED:
            raise RefundOutcomeContradicted(self.id, "failed", "succeeded")
        self.status = RefundStatus.SUCCEEDED
        self.allocation = allocation
        self.gateway_ref = self.gateway_ref or gateway_ref
        self.settled_at = at
        return True

    def fail(self, failure: Failure, at: datetime, gateway_ref: str = "") -> bool:
        if self.status is RefundStatus.FAILED:
            return False
        if self.status is RefundStatus.SUCCEEDED:
            raise RefundOutcomeContradicted(self.id, "succeeded", "failed")
        self.status = RefundStatus.FAILED
        self.failure = failure
        self.gateway_ref = self.gateway_ref or gateway_ref
        self.settled_at = at
        return True


def refunds_of(
    refunds: Iterable[Refund], capture_id: str | None, *statuses: RefundStatus
) -> list[Refund]:
    """The refunds of one capture that are in one of `statuses`."""
    return [r for r in refunds if r.capture_id == capture_id and r.status in statuses]


def total_of(
    refunds: Iterable[Refund], capture_id: str | None, currency: str, *statuses: RefundStatus
) -> Money:
    return total((r.amount for r in refunds_of(refunds, capture_id, *statuses)), currency)
