"""A checkout: a patient's durable request to book one slot, and how far its payment got.

It replaces the seeds' `session['pending_direct_booking']`: the request survives a lost
session, can be retried, and becomes a reservation only when payment confirms it.

    awaiting_payment  → payment_failed    PaymentFailed (the hold stays)
    payment_failed    → awaiting_payment  retry, while the hold lasts, maybe another method
    either of those   → expired           PaymentExpired, or the hold lapsed
    any of those      → confirmed         PaymentConfirmed, slot still to be had: reservation
                      → refunded          PaymentConfirmed otherwise: PurchaseRejected

A confirmed payment always ends in exactly one outcome, whatever state it finds: the
reservation (`confirmed`) if the slot can still be had for the price paid, otherwise a
full refund (`refunded`, with the reason). Everything after `confirmed` or `refunded` is
a duplicate or too late, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from runtime.instants import require_utc
from services.booking.domain.doctor import Doctor
from services.booking.domain.errors import (
    CheckoutExpired,
    CheckoutNotRetryable,
    ReservationNotFound,
    SlotNotBookable,
)
from services.booking.domain.events import PurchaseFulfilled, PurchaseRejected
from services.booking.domain.money import Money
from services.booking.domain.reservation import Reservation
from services.booking.domain.slot import Slot

# What payment knows a booking by: Purchase(kind=PURCHASE_KIND, ref=checkout id).
PURCHASE_KIND = "booking"
DEFAULT_HOLD_TTL = timedelta(minutes=10)
# PurchaseRejected reason for a second payment on a checkout already settled by another.
DUPLICATE_PAYMENT = "duplicate_payment"


class PaymentMethod(Enum):
    GATEWAY = "gateway"
    WALLET = "wallet"


class CheckoutStatus(Enum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_FAILED = "payment_failed"
    CONFIRMED = "confirmed"
    REFUNDED = "refunded"
    EXPIRED = "expired"


# Waiting for a payment, and holding the slot while the hold lasts.
OPEN = frozenset({CheckoutStatus.AWAITING_PAYMENT, CheckoutStatus.PAYMENT_FAILED})
# A confirmed payment has been answered, with a reservation or a refund.
SETTLED = frozenset({CheckoutStatus.CONFIRMED, CheckoutStatus.REFUNDED})


class RefundReason(Enum):
    """Why a paid checkout was refunded instead of confirmed; the values are the codes
    sent as PurchaseRejected.reason."""

    SLOT_TAKEN = "slot_taken"
    AMOUNT_MISMATCH = "amount_mismatch"
    # Withdrawn from sale: removed from the schedule, the doctor deactivated, or paid
    # only after the appointment began.
    SLOT_WITHDRAWN = "slot_withdrawn"


@dataclass(frozen=True)
class PaymentFailure:
    """Why an attempt failed, as payment reports it; `retryable` while the intent is open."""

    code: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class ConfirmedPayment:
    """What a PaymentConfirmed says that booking needs to decide."""

    payment_id: str
    amount: Money
    confirmed_at: datetime


@dataclass
class Checkout:
    id: str
    slot_id: str
    doctor_id: str
    patient_id: str
    # Fixed at the start from the doctor's fee; the payment is created for exactly this.
    price: Money
    method: PaymentMethod
    hold_expires_at: datetime
    created_at: datetime
    updated_at: datetime
    status: CheckoutStatus = CheckoutStatus.AWAITING_PAYMENT
    # Counts this checkout's payment attempts, for per-attempt idempotency keys.
    attempt: int = 1
    payment_id: str | None = None
    # Payment's id for the current attempt, when known: a failure of an older attempt
    # arriving late must not fail the current one.
    attempt_id: str | None = None
    checkout_url: str | None = None
    payment_failure: PaymentFailure | None = None
    reservation_id: str | None = None
    refund_reason: RefundReason | None = None
    rescheduled_reservation_id: str | None = None
    # Other payments confirmed after this checkout was settled, each refunded once.
    duplicate_payment_ids: tuple[str, ...] = ()
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("hold_expires_at", "created_at", "updated_at"):
            require_utc(getattr(self, name), name)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def hold_lapsed(self, now: datetime) -> bool:
        return now >= self.hold_expires_at

    def retryable(self, now: datetime) -> bool:
        return (
            self.status is CheckoutStatus.PAYMENT_FAILED
            and self.payment_failure is not None
            and self.payment_failure.retryable
            and not self.hold_lapsed(now)
        )

    def payment_created(
        self, *, payment_id: str, attempt_id: str | None, checkout_url: str | None, now: datetime
    ) -> None:
        """Payment accepted the current attempt: where to send the patient, and its ids."""
        if self.status is not CheckoutStatus.AWAITING_PAYMENT:
            return
        self.payment_id = payment_id
        self.attempt_id = attempt_id
        self.checkout_url = checkout_url
        self.updated_at = now

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
        if self.status in SETTLED:
            if payment.payment_id not in (self.payment_id, *self.duplicate_payment_ids):
                # Payment keys intents by checkout, so this is a bug elsewhere; still, no
                # confirmed payment may go unanswered, nor be answered twice.
                self.duplicate_payment_ids += (payment.payment_id,)
                self._reject(payment.payment_id, DUPLICATE_PAYMENT, now)
            return None
        self.payment_id = payment.payment_id
        self.payment_failure = None
        reason = self._refund_reason(payment, slot, doctor, now)
        if reason is not None:
            self.status = CheckoutStatus.REFUNDED
            self.refund_reason = reason
            slot.release_hold(self.id)
            self._reject(payment.payment_id, reason.value, now)
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
        self.status = CheckoutStatus.CONFIRMED
        self.reservation_id = reservation.id
        self.updated_at = now
        self.events.append(PurchaseFulfilled(payment.payment_id, self.id, now))
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

    def _reject(self, payment_id: str, reason: str, now: datetime) -> None:
        self.updated_at = now
        self.events.append(PurchaseRejected(payment_id, self.id, reason, now))

    def payment_failed(
        self,
        failure: PaymentFailure,
        *,
        slot: Slot,
        now: datetime,
        payment_id: str | None = None,
        attempt_id: str | None = None,
    ) -> None:
        """The current attempt failed. The hold stays while the payment can be retried.

        Ignored unless awaiting payment, and when it is about another payment or an older
        attempt than the current one: a late failure never undoes a success or a retry.
        """
        if self.status is not CheckoutStatus.AWAITING_PAYMENT:
            return
        if None not in (payment_id, self.payment_id) and payment_id != self.payment_id:
            return
        if None not in (attempt_id, self.attempt_id) and attempt_id != self.attempt_id:
            return
        self.status = CheckoutStatus.PAYMENT_FAILED
        self.payment_failure = failure
        self.updated_at = now
        if not failure.retryable:
            # Nothing can pay this checkout any more; let the slot go now, not at expiry.
            slot.release_hold(self.id)

    def ensure_retryable(self, now: datetime) -> None:
        """Raise why a new attempt cannot start, if it cannot; call before asking payment."""
        if self.status is CheckoutStatus.EXPIRED or (self.is_open and self.hold_lapsed(now)):
            raise CheckoutExpired(self.id, self.hold_expires_at)
        why = {
            CheckoutStatus.AWAITING_PAYMENT: "a payment attempt is still in progress",
            CheckoutStatus.CONFIRMED: "it is already paid and confirmed",
            CheckoutStatus.REFUNDED: "it was paid and refunded; start a new checkout",
        }.get(self.status)
        if why is None and not self.retryable(now):
            why = "its payment can no longer be retried; start a new checkout"
        if why is not None:
            raise CheckoutNotRetryable(self.id, self.status.value, why)

    def retry(self, now: datetime, method: PaymentMethod | None = None) -> None:
        """Start a new attempt, optionally with another method (a short wallet → gateway).

        Record the attempt payment opens with `payment_created` in the same unit of work,
        so no late failure can slip in before the new attempt is known.
        """
        self.ensure_retryable(now)
        self.status = CheckoutStatus.AWAITING_PAYMENT
        self.attempt += 1
        self.method = method or self.method
        self.attempt_id = None
        self.checkout_url = None
        self.payment_failure = None
        self.updated_at = now

    def expire(self, *, slot: Slot, now: datetime) -> None:
        """The payment expired unpaid (PaymentExpired), or the hold lapsed: let the slot go.

        A payment confirmed later is still answered (see payment_confirmed).
        """
        if not self.is_open:
            return
        self.status = CheckoutStatus.EXPIRED
        self.updated_at = now
        slot.release_hold(self.id)


def start_checkout(
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
            held_by.expire(slot=slot, now=now)
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
        hold_expires_at=hold.expires_at,
        created_at=now,
        updated_at=now,
        rescheduled_reservation_id=rescheduling.id if rescheduling is not None else None,
    )
