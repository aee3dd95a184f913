"""The facts booking tells other contexts, as the entities record them.

The handler turns each into its protobuf message (`nobat.booking.v1`) and writes it to
the outbox in the same commit as the entity that recorded it. What booking tells payment
(a purchase fulfilled or rejected, a refund requested) is purchasing's events, about
Purchase(kind=PURCHASE_KIND, ref=the checkout id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.money import Money
    from services.booking.domain.cancellation import CancelledBy


# What payment knows a booking by: Purchase(kind=PURCHASE_KIND, ref=the checkout id).
PURCHASE_KIND = "booking"


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
