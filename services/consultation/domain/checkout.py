"""A consultation checkout: a patient's durable request to buy one consultation, and how
far its payment got.

It replaces the seeds' `session['pending_chat_request']`: nothing clinical exists until
payment confirms it, and then only a clinical session awaiting symptoms.

    awaiting_payment  → payment_failed    PaymentFailed
    payment_failed    → awaiting_payment  retry, while the payment is open, maybe another method
    either of those   → expired           PaymentExpired
    any of those      → confirmed         PaymentConfirmed for the price: a clinical session
                      → refunded          PaymentConfirmed otherwise: PurchaseRejected

A confirmed payment always ends in exactly one outcome, whatever state it finds. Unlike a
slot, a consultation is never sold out, so a payment that succeeds after a failed attempt
or after the checkout expired is still honoured with a session; only a wrong amount or a
chosen doctor who left is refunded. Anything after `confirmed` or `refunded` is a
duplicate or too late and changes nothing, except that a second, different payment is
refunded too (once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from runtime.instants import require_utc
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.errors import (
    CheckoutExpired,
    CheckoutNotRetryable,
    DoctorNotAvailable,
)
from services.consultation.domain.events import (
    Purchase,
    PurchaseFulfilled,
    PurchaseRejected,
    RefundReason,
)
from services.consultation.domain.intake import Intake
from services.consultation.domain.money import Money
from services.consultation.domain.offers import ConsultationType
from services.consultation.domain.session import DEFAULT_SESSION_TTL, ClinicalSession

# The payment intent expires with the checkout; nothing is held meanwhile, so this only
# bounds how long a price quoted at the start stays good.
DEFAULT_CHECKOUT_TTL = timedelta(minutes=30)


class PaymentMethod(Enum):
    GATEWAY = "gateway"
    WALLET = "wallet"


class CheckoutStatus(Enum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_FAILED = "payment_failed"
    CONFIRMED = "confirmed"
    REFUNDED = "refunded"
    EXPIRED = "expired"


# Waiting for a payment.
OPEN = frozenset({CheckoutStatus.AWAITING_PAYMENT, CheckoutStatus.PAYMENT_FAILED})
# A confirmed payment has been answered, with a clinical session or a refund.
SETTLED = frozenset({CheckoutStatus.CONFIRMED, CheckoutStatus.REFUNDED})

_WHY_NOT_RETRYABLE = {
    CheckoutStatus.AWAITING_PAYMENT: "a payment attempt is still in progress",
    CheckoutStatus.CONFIRMED: "it is already paid and confirmed",
    CheckoutStatus.REFUNDED: "it was paid and refunded; start a new checkout",
}


@dataclass(frozen=True)
class PaymentFailure:
    """Why an attempt failed, as payment reports it; `retryable` while the intent is open."""

    code: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class ConfirmedPayment:
    """What a PaymentConfirmed says that consultation needs to decide."""

    payment_id: str
    amount: Money
    confirmed_at: datetime


@dataclass
class Checkout:
    id: str
    intake_id: str
    patient_id: str
    type: ConsultationType
    # The doctor the patient chose; None lets assignment pick one.
    doctor_id: str | None
    # Fixed at the start; the payment is created for exactly this.
    price: Money
    method: PaymentMethod
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    status: CheckoutStatus = CheckoutStatus.AWAITING_PAYMENT
    # Counts payment attempts, for per-attempt idempotency keys.
    attempt: int = 1
    payment_id: str | None = None
    # The current attempt's id, when known: a late failure of an older attempt must not
    # fail the current one.
    attempt_id: str | None = None
    checkout_url: str | None = None
    payment_failure: PaymentFailure | None = None
    clinical_session_id: str | None = None
    refund_reason: RefundReason | None = None
    # Other payments confirmed after this checkout was settled, each refunded once.
    duplicate_payment_ids: tuple[str, ...] = ()
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("expires_at", "created_at", "updated_at"):
            require_utc(getattr(self, name), name)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def lapsed(self, now: datetime) -> bool:
        return now >= self.expires_at

    def payment_created(
        self, *, payment_id: str, attempt_id: str | None, checkout_url: str | None, now: datetime
    ) -> None:
        """Payment accepted the current attempt: where to send the patient, and its ids."""
        if self.status is CheckoutStatus.AWAITING_PAYMENT:
            self.payment_id, self.attempt_id, self.checkout_url = (
                payment_id,
                attempt_id,
                checkout_url,
            )
            self.updated_at = now

    def payment_confirmed(
        self,
        payment: ConfirmedPayment,
        *,
        doctor: Doctor | None,
        clinical_session_id: str,
        now: datetime,
        session_ttl: timedelta = DEFAULT_SESSION_TTL,
    ) -> ClinicalSession | None:
        """Answer a confirmed payment with a clinical session, or a full refund.

        `doctor` is the chosen doctor's current copy (None if none was chosen, or if the
        copy is gone). Returns the new session, or None when the payment was refunded or
        had been answered already.
        """
        if self.status in SETTLED:
            if payment.payment_id not in (self.payment_id, *self.duplicate_payment_ids):
                # Payment keys intents by checkout, so this is a bug elsewhere; still, no
                # confirmed payment may go unanswered, nor be answered twice.
                self.duplicate_payment_ids += (payment.payment_id,)
                self._reject(payment.payment_id, RefundReason.DUPLICATE_PAYMENT, now)
            return None
        self.payment_id = payment.payment_id
        self.payment_failure = None
        reason = self._refund_reason(payment, doctor)
        if reason is not None:
            self.status = CheckoutStatus.REFUNDED
            self.refund_reason = reason
            self._reject(payment.payment_id, reason, now)
            return None
        session = ClinicalSession.open(
            session_id=clinical_session_id,
            paid=self,
            payment_id=payment.payment_id,
            now=now,
            ttl=session_ttl,
        )
        self.status = CheckoutStatus.CONFIRMED
        self.clinical_session_id = session.id
        self.updated_at = now
        self.events.append(PurchaseFulfilled(payment.payment_id, Purchase(self.id), now))
        return session

    def _refund_reason(
        self, payment: ConfirmedPayment, doctor: Doctor | None
    ) -> RefundReason | None:
        if doctor is not None and doctor.id != self.doctor_id:
            raise ValueError(f"checkout {self.id} chose doctor {self.doctor_id}, not {doctor.id}")
        if payment.amount != self.price:
            return RefundReason.AMOUNT_MISMATCH
        if self.doctor_id is not None and (doctor is None or not doctor.active):
            return RefundReason.DOCTOR_UNAVAILABLE
        return None

    def _reject(self, payment_id: str, reason: RefundReason, now: datetime) -> None:
        self.updated_at = now
        self.events.append(PurchaseRejected(payment_id, Purchase(self.id), reason, now))

    def payment_failed(
        self,
        failure: PaymentFailure,
        *,
        now: datetime,
        payment_id: str | None = None,
        attempt_id: str | None = None,
    ) -> None:
        """The current attempt failed. Ignored unless awaiting payment, and when it is
        about another payment or an older attempt: a late failure never undoes a success
        or a retry."""
        about_another = any(
            None not in (theirs, ours) and theirs != ours
            for theirs, ours in ((payment_id, self.payment_id), (attempt_id, self.attempt_id))
        )
        if self.status is CheckoutStatus.AWAITING_PAYMENT and not about_another:
            self.status = CheckoutStatus.PAYMENT_FAILED
            self.payment_failure = failure
            self.updated_at = now

    def ensure_retryable(self, now: datetime) -> None:
        """Raise why a new attempt cannot start, if it cannot; call before asking payment."""
        if self.status is CheckoutStatus.EXPIRED or (self.is_open and self.lapsed(now)):
            raise CheckoutExpired(self.id, self.expires_at)
        why = _WHY_NOT_RETRYABLE.get(self.status)
        if why is None and not (self.payment_failure and self.payment_failure.retryable):
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
        self.attempt_id = self.checkout_url = self.payment_failure = None
        self.updated_at = now

    def expire(self, now: datetime) -> None:
        """The payment ran out unpaid (PaymentExpired). A payment confirmed later is still
        answered (see payment_confirmed)."""
        if self.is_open:
            self.status = CheckoutStatus.EXPIRED
            self.updated_at = now


def start_checkout(
    *,
    checkout_id: str,
    intake: Intake,
    patient_id: str,
    consultation_type: ConsultationType,
    doctor: Doctor | None,
    method: PaymentMethod,
    now: datetime,
    ttl: timedelta = DEFAULT_CHECKOUT_TTL,
) -> Checkout:
    """Open a checkout for one of the intake's offers, at the server's price: the chosen
    doctor's own price for the type if they set one, else the intake's quote (the platform
    default when the intake was made, honoured while the intake lasts). The handler asks
    payment for exactly `price` next; nothing else is created.
    """
    require_utc(now, "now")
    if ttl <= timedelta(0):
        raise ValueError("a checkout must last some time")
    offer = intake.offer_for(patient_id, consultation_type, now)
    price = offer.price
    if doctor is not None:
        if not doctor.active:
            raise DoctorNotAvailable(doctor.id)
        price = doctor.prices.get(consultation_type) or price
    return Checkout(
        id=checkout_id,
        intake_id=intake.id,
        patient_id=patient_id,
        type=consultation_type,
        doctor_id=doctor.id if doctor is not None else None,
        price=price,
        method=method,
        expires_at=now + ttl,
        created_at=now,
        updated_at=now,
    )
