"""An intake: the patient's complaint, triaged, and the consultations offered for it.

It costs nothing and promises nothing: it is what a checkout is started from, at the
platform's default prices of the moment, and it expires so that neither its triage nor
its prices go stale. An intake whose only sensible care is an emergency visit in person
offers nothing, so no checkout can start from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from runtime.errors import InvalidArgument
from runtime.instants import require_utc
from services.consultation.domain.errors import (
    ConsultationTypeNotOffered,
    EmergencyCareAdvised,
    IntakeExpired,
    IntakeNotFound,
)
from services.consultation.domain.offers import ConsultationType, Offer, PriceList
from services.consultation.domain.triage import (
    MAX_AGE_YEARS,
    ReportedSymptom,
    Sex,
    Triage,
    TriagePort,
    symptom_violations,
)

MAX_COMPLAINT_LENGTH = 2000
DEFAULT_INTAKE_TTL = timedelta(hours=2)


def text_violations(value: str, field: str, max_length: int) -> list[tuple[str, str]]:
    """A required free-text field: not blank, and not longer than `max_length`."""
    if not value.strip():
        return [(field, "is required")]
    if len(value) > max_length:
        return [(field, f"must be at most {max_length} characters")]
    return []


@dataclass(frozen=True)
class Intake:
    id: str
    patient_id: str
    complaint: str
    symptoms: tuple[ReportedSymptom, ...]
    age_years: int
    sex: Sex | None
    triage: Triage
    # At the platform default prices; empty when only emergency care in person fits.
    offers: tuple[Offer, ...]
    created_at: datetime
    # A checkout must start before this.
    expires_at: datetime

    def __post_init__(self) -> None:
        require_utc(self.created_at, "created_at")
        require_utc(self.expires_at, "expires_at")

    def offer_for(
        self, patient_id: str, consultation_type: ConsultationType, now: datetime
    ) -> Offer:
        """The offer a checkout by `patient_id` may start from, or why there is none."""
        if patient_id != self.patient_id:
            raise IntakeNotFound(self.id)
        if now >= self.expires_at:
            raise IntakeExpired(self.id, self.expires_at)
        if not self.offers and self.triage.emergency_care_advised:
            raise EmergencyCareAdvised(self.id)
        for offer in self.offers:
            if offer.type is consultation_type:
                return offer
        raise ConsultationTypeNotOffered(
            consultation_type.value, (offer.type.value for offer in self.offers)
        )


def open_intake(
    *,
    intake_id: str,
    patient_id: str,
    complaint: str,
    symptoms: Sequence[ReportedSymptom],
    age_years: int,
    sex: Sex | None,
    triage: TriagePort,
    prices: PriceList,
    now: datetime,
    ttl: timedelta = DEFAULT_INTAKE_TTL,
) -> Intake:
    """Triage the complaint and offer the consultation types that fit, at `prices` (the
    platform defaults). Every bad field is reported at once; unknown symptom codes are
    the triage's to report, after the rest is well-formed."""
    require_utc(now, "now")
    violations = text_violations(complaint, "complaint", MAX_COMPLAINT_LENGTH)
    if type(age_years) is not int or not 0 <= age_years <= MAX_AGE_YEARS:
        violations.append(("age_years", f"must be from 0 to {MAX_AGE_YEARS}"))
    violations += symptom_violations(symptoms)
    if violations:
        raise InvalidArgument.many(violations)
    result = triage.triage(symptoms, age_years=age_years, sex=sex)
    return Intake(
        id=intake_id,
        patient_id=patient_id,
        complaint=complaint,
        symptoms=tuple(symptoms),
        age_years=age_years,
        sex=sex,
        triage=result,
        offers=prices.offers(result.allowed_types),
        created_at=now,
        expires_at=now + ttl,
    )
