"""What a purchasing context tells payment about a payment it confirmed: the purchase was
fulfilled, or it bought nothing and goes back in full, or someone else does its work now.
Published as nobat.payment.v1's PurchaseFulfilled, PurchaseRejected, RefundRequested and
PayeeAssigned, on the purchasing context's own subjects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runtime.money import Money

# PurchaseRejected reasons every purchasing context may give, beside its own.
# A second payment confirmed for a checkout another payment already settled.
DUPLICATE_PAYMENT = "duplicate_payment"
# A payment for a checkout that was never stored (its transaction rolled back after
# payment had taken the money).
UNKNOWN_CHECKOUT = "unknown_checkout"


@dataclass(frozen=True)
class Purchase:
    """What payment knows a purchase by: the context's kind ("booking", "consultation")
    and its checkout's id."""

    kind: str
    ref: str


@dataclass(frozen=True)
class PurchaseFulfilled:
    """A confirmed payment bought what it was for: payment's orphan check can stop."""

    payment_id: str
    purchase: Purchase
    fulfilled_at: datetime


@dataclass(frozen=True)
class PurchaseRejected:
    """A confirmed payment bought nothing; payment refunds it in full."""

    payment_id: str
    purchase: Purchase
    # A machine code: DUPLICATE_PAYMENT, UNKNOWN_CHECKOUT or the context's own reason.
    reason: str
    rejected_at: datetime


@dataclass(frozen=True)
class RefundRequested:
    """Part or all of a fulfilled purchase goes back to the patient: a cancelled
    reservation, a session without symptoms, a consultation nobody took."""

    # One key per refund, whichever path asks, so two paths can never refund it twice.
    idempotency_key: str
    payment_id: str
    purchase: Purchase
    amount: Money
    # A machine code, such as "patient_cancelled" or "no_doctor_accepted".
    reason: str
    requested_at: datetime


@dataclass(frozen=True)
class PayeeAssigned:
    """Who does the work a confirmed payment pays for now (its one line): payment moves the
    line's held payout to them by a ledger transfer. Told through the outbox in the same
    commit as the assignment, so it is never lost nor told of an assignment rolled back."""

    payment_id: str
    purchase: Purchase
    # None: nobody does it, and the platform holds the money until it is refunded.
    doctor_id: str | None
    # Counts the changes from 1: payment applies only a higher number than it has, so
    # changes overtaking each other on the way end as the last one made.
    assignment: int
    assigned_at: datetime
