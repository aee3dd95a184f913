"""Triage: from reported symptoms, age and sex to likely conditions, urgency, red flags and
the consultation types that fit.

Triage is a port (`TriagePort`), so a better engine can replace the default later. The
default is the transparent rule table in `rule_table.py`; every result names the rules'
version, so an audit can tell which rules produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Protocol

from services.consultation.domain.offers import ConsultationType

MAX_SYMPTOMS = 30
# A century of days: anything longer is a typing slip, not a history.
MAX_DAYS_SINCE_ONSET = 36_500
MAX_AGE_YEARS = 130


class Sex(Enum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class Severity(IntEnum):
    MILD = 1
    MODERATE = 2
    SEVERE = 3


class Urgency(IntEnum):
    """How soon the patient should be seen; ordered, so the highest one wins."""

    ROUTINE = 1
    SOON = 2
    URGENT = 3
    # In person, now: online care is not enough.
    EMERGENCY = 4


@dataclass(frozen=True)
class ReportedSymptom:
    code: str
    # None when the patient did not say.
    severity: Severity | None = None
    days_since_onset: int | None = None


@dataclass(frozen=True)
class LikelyCondition:
    code: str
    name: str
    # 0 to 100: a relative weight from the table, not a probability.
    score: int


@dataclass(frozen=True)
class RedFlag:
    symptom_code: str
    advice: str


@dataclass(frozen=True)
class Triage:
    # Highest score first.
    likely_conditions: tuple[LikelyCondition, ...]
    urgency: Urgency
    red_flags: tuple[RedFlag, ...]
    # The consultation types that fit this urgency; none when only emergency care does.
    allowed_types: tuple[ConsultationType, ...]
    rules_version: str

    @property
    def emergency_care_advised(self) -> bool:
        return self.urgency is Urgency.EMERGENCY


class TriagePort(Protocol):
    def triage(
        self, symptoms: Sequence[ReportedSymptom], *, age_years: int, sex: Sex | None
    ) -> Triage:
        """Raises UnknownSymptom for codes it does not know."""
        ...


def symptom_violations(
    symptoms: Sequence[ReportedSymptom], field: str = "symptoms"
) -> list[tuple[str, str]]:
    """What is wrong with the shape of a symptom list; whether each code is known is the
    triage's to say."""
    if len(symptoms) > MAX_SYMPTOMS:
        return [(field, f"at most {MAX_SYMPTOMS} symptoms")]
    violations = []
    seen: set[str] = set()
    for index, symptom in enumerate(symptoms):
        at = f"{field}[{index}]"
        if not symptom.code.strip():
            violations.append((f"{at}.code", "is required"))
        elif symptom.code in seen:
            violations.append((f"{at}.code", f"{symptom.code!r} is reported twice"))
        seen.add(symptom.code)
        days = symptom.days_since_onset
        if days is not None and not 0 <= days <= MAX_DAYS_SINCE_ONSET:
            violations.append(
                (f"{at}.days_since_onset", f"must be from 0 to {MAX_DAYS_SINCE_ONSET}")
            )
    return violations
