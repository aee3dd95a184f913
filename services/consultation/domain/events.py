"""The facts consultation tells other contexts, as the entities record them.

The handler turns each into its protobuf message (`nobat.consultation.v1`) and writes it
to the outbox in the same commit as the entity that recorded it. What consultation tells
payment (a purchase fulfilled or rejected, a refund requested) is purchasing's events.

They carry ids, types, urgency and times only: never the complaint, symptoms, details,
notes, chat text, a national id or a phone number. Consultation does not even hold the
last two; contact details live in notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from purchasing.events import Purchase, RefundRequested

if TYPE_CHECKING:
    from runtime.money import Money
    from services.consultation.domain.offers import ConsultationType
    from services.consultation.domain.triage import Urgency

# What payment knows a consultation purchase by: Purchase(kind=PURCHASE_KIND, ref=checkout id).
PURCHASE_KIND = "consultation"


class RefundReason(Enum):
    """Why a paid purchase went back to the patient in full; the values are the machine
    codes sent as PurchaseRejected.reason and RefundRequested.reason."""

    AMOUNT_MISMATCH = "amount_mismatch"
    # The chosen doctor was deactivated before the payment was confirmed.
    DOCTOR_UNAVAILABLE = "doctor_unavailable"
    SYMPTOMS_NOT_SUBMITTED = "symptoms_not_submitted"
    # Nobody accepted in time, or every doctor on shift declined.
    NO_DOCTOR_ACCEPTED = "no_doctor_accepted"
    # The patient withdrew it before a doctor accepted it.
    PATIENT_CANCELLED = "patient_cancelled"
    # Payment gave the money back on its own initiative (an early fraud warning): refunded
    # by payment, never asked for by consultation.
    PURCHASE_VOIDED = "purchase_voided"


def full_refund(
    *, payment_id: str, checkout_id: str, price: Money, reason: RefundReason, now: datetime
) -> RefundRequested:
    """The whole price back, under one key per payment, whichever path asks, so two paths
    can never refund it twice."""
    return RefundRequested(
        idempotency_key=f"consultation-refund:{payment_id}",
        payment_id=payment_id,
        purchase=Purchase(PURCHASE_KIND, checkout_id),
        amount=price,
        reason=reason.value,
        requested_at=now,
    )


@dataclass(frozen=True)
class ClinicalSessionOpened:
    clinical_session_id: str
    checkout_id: str
    payment_id: str
    patient_id: str
    type: ConsultationType
    # The doctor chosen at checkout; None lets assignment pick one.
    doctor_id: str | None
    opened_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ConsultationCreated:
    consultation_id: str
    clinical_session_id: str
    patient_id: str
    # None while waiting for a doctor on shift; ConsultationAssigned follows then.
    doctor_id: str | None
    type: ConsultationType
    urgency: Urgency
    created_at: datetime


@dataclass(frozen=True)
class ConsultationAssigned:
    """From the queue when a shift starts, or to another doctor after a decline."""

    consultation_id: str
    patient_id: str
    doctor_id: str
    # The doctor who declined it; None for a first assignment.
    previous_doctor_id: str | None
    assigned_at: datetime


@dataclass(frozen=True)
class ConsultationAccepted:
    consultation_id: str
    patient_id: str
    doctor_id: str
    accepted_at: datetime


@dataclass(frozen=True)
class ConsultationDeclined:
    """The doctor's reason stays with the consultation; it is free text, so not sent."""

    consultation_id: str
    patient_id: str
    doctor_id: str
    declined_at: datetime


@dataclass(frozen=True)
class ConsultationCompleted:
    consultation_id: str
    patient_id: str
    doctor_id: str
    completed_at: datetime
