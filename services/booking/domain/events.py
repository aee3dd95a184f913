"""The facts booking tells other contexts, as the entities record them.

The handler turns each into its protobuf message (`nobat.booking.v1` for the first three,
`nobat.payment.v1` for the purchase outcomes and refund requests, with purchase kind
`booking` and ref = the checkout id) and writes it to the outbox in the same commit as
the entity that recorded it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.booking.domain.cancellation import CancelledBy
    from services.booking.domain.money import Money


@dataclass(frozen=True)
class DoctorUpdated:
    """The whole directory entry, so consumers can upsert and keep the newest."""

    doctor_id: str
    display_name: str
    specialty: str
    time_zone: str
    appointment_fee: Money
    active: bool
    updated_at: datetime


@dataclass(frozen=True)
class ReservationConfirmed:
    reservation_id: str
    checkout_id: str
    payment_id: str
    slot_id: str
    doctor_id: str
    patient_id: str
    starts_at: datetime
    ends_at: datetime
    price: Money
    rescheduled_from_reservation_id: str | None
    confirmed_at: datetime


@dataclass(frozen=True)
class ReservationCancelled:
    reservation_id: str
    payment_id: str
    slot_id: str
    doctor_id: str
    patient_id: str
    starts_at: datetime
    cancelled_by: CancelledBy
    reason: str
    refund: Money
    cancelled_at: datetime


@dataclass(frozen=True)
class PurchaseFulfilled:
    """A confirmed payment became a reservation: payment's orphan check can stop waiting."""

    payment_id: str
    checkout_id: str
    fulfilled_at: datetime


@dataclass(frozen=True)
class PurchaseRejected:
    """A confirmed payment bought nothing; payment refunds it in full."""

    payment_id: str
    checkout_id: str
    # A machine code such as "slot_taken" (RefundReason's values, or "duplicate_payment").
    reason: str
    rejected_at: datetime


@dataclass(frozen=True)
class RefundRequested:
    """Part or all of a fulfilled purchase goes back to the patient (a cancellation)."""

    idempotency_key: str
    payment_id: str
    checkout_id: str
    amount: Money
    reason: str
    requested_at: datetime
