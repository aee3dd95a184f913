"""A consultation's checkout: a patient's durable request to buy one consultation.

It replaces the seeds' `session['pending_chat_request']`: nothing clinical exists until
payment confirms it, and then only a clinical session awaiting symptoms. Its payment
progress is purchasing's (purchasing/checkout.py); what is consultation's own: nothing is
held meanwhile, and since a consultation is never sold out, a payment that succeeds after
a failed attempt or after the checkout expired still opens a session. Only a wrong amount,
or a chosen doctor who left, is refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from purchasing import checkout as purchasing
from purchasing.checkout import ConfirmedPayment, PaymentMethod
from runtime.instants import require_utc
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.errors import DoctorNotAvailable
from services.consultation.domain.events import PURCHASE_KIND, RefundReason
from services.consultation.domain.intake import Intake
from services.consultation.domain.offers import ConsultationType
from services.consultation.domain.session import DEFAULT_SESSION_TTL, ClinicalSession

# The payment intent expires with the checkout; nothing is held meanwhile, so this only
# bounds how long a price quoted at the start stays good.
DEFAULT_CHECKOUT_TTL = timedelta(minutes=30)


@dataclass(kw_only=True)
class Checkout(purchasing.Checkout):
    PURCHASE_KIND = PURCHASE_KIND

    intake_id: str
    type: ConsultationType
    # The doctor the patient chose; None lets assignment pick one.
    doctor_id: str | None
    clinical_session_id: str | None = None
    refund_reason: RefundReason | None = None

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
        if not self.take_payment(payment, now):
            return None
        reason = self._refund_reason(payment, doctor)
        if reason is not None:
            self.refund_reason = reason
            self.refused(reason.value, now)
            return None
        session = ClinicalSession.open(
            session_id=clinical_session_id,
            paid=self,
            payment_id=payment.payment_id,
            now=now,
            ttl=session_ttl,
        )
        self.clinical_session_id = session.id
        self.fulfilled(now)
        return session

    def purchase_voided(self, payment_id: str, now: datetime) -> bool:
        """Payment gave `payment_id`'s money back on its own (PurchaseVoided). True when
        the checkout was answered already and what it bought is the caller's to release
        (the session and its consultation); a checkout not yet answered is settled as
        refunded here, so a PaymentConfirmed arriving after this opens nothing."""
        if self.status is purchasing.CheckoutStatus.CONFIRMED:
            return payment_id == self.payment_id
        if self.settle_voided(payment_id, now):
            self.refund_reason = RefundReason.PURCHASE_VOIDED
        return False

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


def open_checkout(
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
