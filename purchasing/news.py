"""What payment tells a purchasing context about one of its checkouts' payments, as the
context's handlers take it (purchasing.consumer reads it off payment's events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from purchasing.checkout import ConfirmedPayment, PaymentFailure


@dataclass(frozen=True)
class PaymentConfirmed:
    checkout_id: str
    payment: ConfirmedPayment


@dataclass(frozen=True)
class PaymentFailed:
    checkout_id: str
    failure: PaymentFailure
    payment_id: str
    # None when payment did not say which attempt.
    attempt_id: str | None
    failed_at: datetime


@dataclass(frozen=True)
class PaymentExpired:
    checkout_id: str
    expired_at: datetime
