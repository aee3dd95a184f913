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


@dataclass(frozen=True)
class PurchaseVoided:
    """Payment gave the checkout's payment back on its own initiative (an early fraud
    warning): whatever it bought is released, and a confirmation still to come buys
    nothing. The money is already on its way back, so no refund is asked for."""

    checkout_id: str
    payment_id: str
    # Payment's machine code, such as "fraud_warning".
    reason: str
    voided_at: datetime
