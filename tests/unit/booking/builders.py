"""Small builders for booking's domain objects, with defaults a test overrides by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from purchasing.checkout import ConfirmedPayment, PaymentFailure, PaymentMethod
from runtime.money import Money
from services.booking.domain.checkout import Checkout, hold_slot
from services.booking.domain.doctor import Doctor
from services.booking.domain.reservation import Reservation
from services.booking.domain.slot import Slot

NOW = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
FEE = Money(250_000, "IRR")
DECLINED = PaymentFailure("card_declined", "Your card was declined.", retryable=True)
CANCELED_FOR_GOOD = PaymentFailure("canceled", "The payment was cancelled.", retryable=False)


def a_doctor(**overrides: object) -> Doctor:
    fields: dict = {
        "doctor_id": "doctor-1",
        "display_name": "Dr. Parvin Ahmadi",
        "specialty": "cardiology",
        "time_zone": "Asia/Tehran",
        "appointment_fee": FEE,
        "now": NOW - timedelta(days=30),
    }
    fields.update(overrides)
    doctor = Doctor.create(**fields)
    doctor.events.clear()
    return doctor


def a_slot(slot_id: str = "slot-1", starts_in: timedelta = timedelta(days=2)) -> Slot:
    starts_at = NOW + starts_in
    return Slot(slot_id, "doctor-1", starts_at, starts_at + timedelta(minutes=30))


def a_checkout(
    slot: Slot,
    *,
    patient_id: str = "patient-1",
    checkout_id: str = "checkout-1",
    doctor: Doctor | None = None,
    now: datetime = NOW,
    method: PaymentMethod = PaymentMethod.GATEWAY,
    held_by: Checkout | None = None,
) -> Checkout:
    """A started checkout whose payment (payment-<checkout id>, attempt 1) exists."""
    checkout = hold_slot(
        checkout_id=checkout_id,
        slot=slot,
        doctor=doctor or a_doctor(),
        patient_id=patient_id,
        method=method,
        now=now,
        held_by=held_by,
    )
    checkout.payment_created(
        payment_id=f"payment-{checkout_id}",
        attempt_id=f"attempt-{checkout_id}-1",
        checkout_url=f"https://pay.example/{checkout_id}/1",
        now=now,
    )
    return checkout


def paid(checkout: Checkout, at: datetime = NOW, amount: Money | None = None) -> ConfirmedPayment:
    """The confirmation of the payment a_checkout created."""
    return ConfirmedPayment(f"payment-{checkout.id}", amount or checkout.price, at)


def confirm(
    checkout: Checkout,
    slot: Slot,
    payment: ConfirmedPayment | None = None,
    *,
    at: datetime = NOW,
    doctor: Doctor | None = None,
) -> Reservation | None:
    """Payment confirms `checkout`: by default its own payment, in full, at `at`."""
    return checkout.payment_confirmed(
        payment or paid(checkout, at),
        slot=slot,
        doctor=doctor or a_doctor(),
        reservation_id=f"reservation-{checkout.id}",
        now=at,
    )


def a_reservation(
    name: str = "1", starts_in: timedelta = timedelta(days=3), doctor: Doctor | None = None
) -> tuple[Reservation, Slot]:
    """A paid reservation of slot-<name> through checkout-<name>, its events already sent."""
    slot = a_slot(f"slot-{name}", starts_in)
    checkout = a_checkout(slot, checkout_id=f"checkout-{name}", doctor=doctor)
    reservation = confirm(checkout, slot, doctor=doctor)
    assert reservation is not None
    reservation.events.clear()
    return reservation, slot
