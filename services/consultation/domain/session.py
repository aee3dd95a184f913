"""A clinical session: what a confirmed payment buys, before any clinical fact exists.

    awaiting_symptoms → symptoms_submitted   SubmitSymptoms: the consultation is created
                      → expired              no symptoms by expires_at: refunded in full

It is a paid, time-limited right to one consultation. No doctor is assigned and nothing
clinical is stored until the patient sends the detailed symptoms, so a patient who
never does leaves no consultation behind, only a refund.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from runtime.instants import require_utc
from runtime.money import Money
from services.consultation.domain.caller import Caller
from services.consultation.domain.errors import (
    ClinicalSessionExpired,
    ClinicalSessionNotFound,
    SymptomsAlreadySubmitted,
)
from services.consultation.domain.events import ClinicalSessionOpened, RefundReason, full_refund
from services.consultation.domain.offers import ConsultationType

if TYPE_CHECKING:
    from services.consultation.domain.checkout import Checkout

DEFAULT_SESSION_TTL = timedelta(hours=72)


class ClinicalSessionStatus(Enum):
    AWAITING_SYMPTOMS = "awaiting_symptoms"
    SYMPTOMS_SUBMITTED = "symptoms_submitted"
    EXPIRED = "expired"


@dataclass
class ClinicalSession:
    id: str
    checkout_id: str
    payment_id: str
    patient_id: str
    # The intake's age and sex feed the detailed triage.
    intake_id: str
    type: ConsultationType
    # The doctor chosen at checkout; None lets assignment pick one.
    doctor_id: str | None
    # What was paid, and so what a refund gives back.
    price: Money
    opened_at: datetime
    expires_at: datetime
    status: ClinicalSessionStatus = ClinicalSessionStatus.AWAITING_SYMPTOMS
    consultation_id: str | None = None
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_utc(self.opened_at, "opened_at")
        require_utc(self.expires_at, "expires_at")

    @classmethod
    def open(
        cls, *, session_id: str, paid: Checkout, payment_id: str, now: datetime, ttl: timedelta
    ) -> ClinicalSession:
        """What `paid`, just confirmed by `payment_id`, buys: symptoms may come until now + ttl."""
        if ttl <= timedelta(0):
            raise ValueError("a clinical session must last some time")
        session = cls(
            id=session_id,
            checkout_id=paid.id,
            payment_id=payment_id,
            patient_id=paid.patient_id,
            intake_id=paid.intake_id,
            type=paid.type,
            doctor_id=paid.doctor_id,
            price=paid.price,
            opened_at=now,
            expires_at=now + ttl,
        )
        session.events.append(
            ClinicalSessionOpened(
                session.id,
                session.checkout_id,
                session.payment_id,
                session.patient_id,
                session.type,
                session.doctor_id,
                session.opened_at,
                session.expires_at,
            )
        )
        return session

    def ensure_visible_to(self, caller: Caller) -> None:
        if not (caller.is_patient(self.patient_id) or caller.is_staff):
            raise ClinicalSessionNotFound(self.id)

    def ensure_awaiting_symptoms(self, patient_id: str, now: datetime) -> None:
        """Raise why `patient_id` cannot send symptoms for this session now, if they cannot.

        Someone else's session does not exist for them. Once expires_at has passed the
        session takes nothing more, even before the expiry job has refunded it, so a late
        submission can never race the refund.
        """
        if patient_id != self.patient_id:
            raise ClinicalSessionNotFound(self.id)
        if self.status is ClinicalSessionStatus.SYMPTOMS_SUBMITTED:
            raise SymptomsAlreadySubmitted(self.id, self.consultation_id)
        if self.status is ClinicalSessionStatus.EXPIRED or now >= self.expires_at:
            raise ClinicalSessionExpired(self.id, self.expires_at)

    def symptoms_submitted(self, patient_id: str, consultation_id: str, now: datetime) -> None:
        self.ensure_awaiting_symptoms(patient_id, now)
        self.status = ClinicalSessionStatus.SYMPTOMS_SUBMITTED
        self.consultation_id = consultation_id

    def voided(self) -> bool:
        """Payment took the money back on its own (PurchaseVoided): symptoms can no longer
        come, and no refund is asked, the money being on its way back already. True if it
        was still awaiting symptoms."""
        if self.status is not ClinicalSessionStatus.AWAITING_SYMPTOMS:
            return False
        self.status = ClinicalSessionStatus.EXPIRED
        return True

    def expire(self, now: datetime) -> bool:
        """Refund a session whose symptoms never came; True if it expired just now.

        Only once: an expired or submitted session is left alone, so the expiry job may
        run any number of times.
        """
        if self.status is not ClinicalSessionStatus.AWAITING_SYMPTOMS or now < self.expires_at:
            return False
        self.status = ClinicalSessionStatus.EXPIRED
        self.events.append(
            full_refund(
                payment_id=self.payment_id,
                checkout_id=self.checkout_id,
                price=self.price,
                reason=RefundReason.SYMPTOMS_NOT_SUBMITTED,
                now=now,
            )
        )
        return True
