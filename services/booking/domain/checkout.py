"""A booking's checkout: a patient's durable request to book one slot.

It replaces the seeds' `session['pending_direct_booking']`: the request survives a lost
session, can be retried, and becomes a reservation only when payment confirms it. Its
payment progress is purchasing's (purchasing/checkout.py); what is booking's own:

- starting one holds the slot, at the doctor's current fee, until `expires_at`;
- a failure that cannot be retried, an expired payment or a lapsed hold lets the slot go;
- a confirmed payment becomes the reservation if the slot can still be had for the price
  paid, and is refunded in full otherwise (slot taken, withdrawn, or a wrong amount).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from purchasing import checkout as purchasing
from purchasing.checkout import ConfirmedPayment, PaymentFailure, PaymentMethod
from runtime.instants import require_utc
from services.booking.domain.doctor import Doctor
from services.booking.domain.errors import ReservationNotFound, SlotNotBookable
from services.booking.domain.events import PURCHASE_KIND
from services.booking.domain.reservation import Reservation
from services.booking.domain.slot import Slot

DEFAULT_HOLD_TTL = timedelta(minutes=10)


class RefundReason(Enum):
    """Why a paid checkout was refunded instead of confirmed; the values are the codes
    sent as PurchaseRejected.reason."""

    SLOT_TAKEN = "slot_taken"
    AMOUNT_MISMATCH = "amount_mismatch"
    # Withdrawn from sale: removed from the schedule, the doctor deactivated, or paid
    # only after the appointment began.
    SLOT_WITHDRAWN = "slot_withdrawn"
    # Payment gave the money back on its own (an early fraud warning) before the
    # confirmation was answered: nothing is booked.
    PURCHASE_VOIDED = "purchase_voided"


@dataclass(kw_only=True)
class Checkout(purchasing.Checkout):
    """A patient's checkout for one slot, held until `expires_at` (the hold's end)."""

    PURCHASE_KIND = PURCHASE_KIND

    slot_id: str
    doctor_id: str
    reservation_id: str | None = None
    refund_reason: RefundReason | None = None
    rescheduled_reservation_id: str | None = None

    def payment_confirmed(
        self,
        payment: ConfirmedPayment,
        *,
        slot: Slot,
        doctor: Doctor,
        reservation_id: str,
        now: datetime,
    ) -> Reservation | None:
        """Answer a confirmed payment with the reservation, or a full refund.

        The money is real whatever state the checkout is in, so a payment that succeeded
        after a failed attempt or after the hold lapsed is honoured when the slot is still
        free; a live hold of another checkout counts as taken, since that patient was
        promised the slot until then. Returns the new reservation, or None when the
        payment was refunded or was already answered.
        """
        if not self.take_payment(payment, now):
            return None
        reason = self._refund_reason(payment, slot, doctor, now)
        if reason is not None:
            self.refund_reason = reason
            slot.release_hold(self.id)
            self.refused(reason.value, now)
            return None
        reservation = Reservation.confirm(
            reservation_id=reservation_id,
            slot=slot,
            patient_id=self.patient_id,
            price=self.price,
            checkout_id=self.id,
            payment_id=payment.payment_id,
            rescheduled_from_reservation_id=self.rescheduled_reservation_id,
            now=now,
        )
        slot.book(reservation.id, self.id, now)
        self.reservation_id = reservation.id
        self.fulfilled(now)
        return reservation

    def _refund_reason(
        self, payment: ConfirmedPayment, slot: Slot, doctor: Doctor, now: datetime
    ) -> RefundReason | None:
        if slot.id != self.slot_id or doctor.id != self.doctor_id:
            raise ValueError(f"checkout {self.id} is for slot {self.slot_id}, not {slot.id}")
        if payment.amount != self.price:
            return RefundReason.AMOUNT_MISMATCH
        if slot.withdrawn or not doctor.active or payment.confirmed_at >= slot.starts_at:
            return RefundReason.SLOT_WITHDRAWN
        held = slot.live_hold(now)
        if slot.reservation_id is not None or (held is not None and held.checkout_id != self.id):
            return RefundReason.SLOT_TAKEN
        return None

    def purchase_voided(
        self,
        payment_id: str,
        reason: str,
        *,
        slot: Slot,
        reservation: Reservation | None,
        now: datetime,
    ) -> None:
        """Payment gave `payment_id`'s money back on its own initiative (PurchaseVoided):
        nobody keeps a slot they no longer paid for. The reservation it bought is
        cancelled, asking no refund; a checkout not yet answered is settled as refunded,
        so a PaymentConfirmed arriving after this books nothing (take_payment). Any number
        of these, in any order with the payment's other news, end the same."""
        if self.status is purchasing.CheckoutStatus.CONFIRMED:
            if reservation is not None and reservation.payment_id == payment_id:
                reservation.voided(reason, slot=slot, now=now)
        elif self.settle_voided(payment_id, now):
            self.refund_reason = RefundReason.PURCHASE_VOIDED
            slot.release_hold(self.id)

    def attempt_failed(
        self,
        failure: PaymentFailure,
        *,
        slot: Slot,
        now: datetime,
        payment_id: str | None = None,
        attempt_id: str | None = None,
    ) -> None:
        """The current attempt failed. The hold stays while the payment can be retried;
        nothing can pay a checkout whose failure is final, so its slot goes back now."""
        failed = self.payment_failed(failure, now=now, payment_id=payment_id, attempt_id=attempt_id)
        if failed and not failure.retryable:
            slot.release_hold(self.id)

    def lapse(self, *, slot: Slot, now: datetime) -> None:
        """The payment expired unpaid (PaymentExpired), or the hold lapsed: let the slot go.
        A payment confirmed later is still answered (see payment_confirmed)."""
        if self.expire(now):
            slot.release_hold(self.id)


def hold_slot(
    *,
    checkout_id: str,
    slot: Slot,
    doctor: Doctor,
    patient_id: str,
    method: PaymentMethod,
    now: datetime,
    hold_ttl: timedelta = DEFAULT_HOLD_TTL,
    held_by: Checkout | None = None,
    rescheduling: Reservation | None = None,
) -> Checkout:
    """Hold `slot` for the patient and open a checkout at the doctor's current fee.

    `held_by` is the checkout the slot's hold names, if it has one (lapsed or not). The
    same patient asking again while their checkout still holds the slot gets that checkout
    back; another patient gets SlotAlreadyHeld with the hold's end. A hold that has lapsed
    counts for nothing, and its checkout expires here. `rescheduling` is the patient's
    reservation that this checkout replaces once confirmed.
    """
    require_utc(now, "now")
    if hold_ttl <= timedelta(0):
        raise ValueError("the hold must last some time")
    if slot.doctor_id != doctor.id:
        raise ValueError(f"slot {slot.id} is not doctor {doctor.id}'s")
    if slot.hold is not None:
        if held_by is None or held_by.id != slot.hold.checkout_id:
            raise ValueError(f"pass the checkout holding slot {slot.id} as held_by")
        if not slot.hold.is_live(now):
            held_by.lapse(slot=slot, now=now)
        elif held_by.patient_id == patient_id and held_by.is_open:
            return held_by
    if rescheduling is not None:
        if rescheduling.patient_id != patient_id:
            raise ReservationNotFound(rescheduling.id)
        rescheduling.ensure_patient_may_change(now)
    if not doctor.active:
        raise SlotNotBookable(slot.id, "the doctor is not taking bookings")
    hold = slot.take_hold(checkout_id=checkout_id, patient_id=patient_id, now=now, ttl=hold_ttl)
    return Checkout(
        id=checkout_id,
        slot_id=slot.id,
        doctor_id=doctor.id,
        patient_id=patient_id,
        price=doctor.appointment_fee,
        method=method,
        expires_at=hold.expires_at,
        created_at=now,
        updated_at=now,
        rescheduled_reservation_id=rescheduling.id if rescheduling is not None else None,
    )
