"""Facts: what another context did that people care about (a reservation confirmed, a
refund issued), reduced to who should hear of it and the values to tell them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from services.notification.domain.localized import Amount


@dataclass(frozen=True)
class Phrase:
    """A word or sentence said differently in each locale, by its code ("slot_taken")."""

    code: str


# What a template's placeholders are filled with; each is written the locale's way.
Value = Amount | datetime | Phrase | str | int


class Kind(Enum):
    RESERVATION_CONFIRMED = "reservation_confirmed"
    RESERVATION_CANCELLED = "reservation_cancelled"
    CONSULTATION_CREATED = "consultation_created"
    CONSULTATION_ASSIGNED = "consultation_assigned"
    CONSULTATION_ACCEPTED = "consultation_accepted"
    CONSULTATION_DECLINED = "consultation_declined"
    CONSULTATION_COMPLETED = "consultation_completed"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REFUNDED = "payment_refunded"
    PAYOUT_RELEASED = "payout_released"
    SYMPTOMS_DUE = "symptoms_due"
    WALLET_TOPPED_UP = "wallet_topped_up"


class Audience(Enum):
    """A recipient's part in a fact, which decides what they are told."""

    PATIENT = "patient"
    DOCTOR = "doctor"


@dataclass(frozen=True)
class Recipient:
    user_id: str
    audience: Audience


@dataclass(frozen=True)
class Fact:
    kind: Kind
    # What makes this fact one fact: its kind, its subject's id and, where one subject can
    # see the same kind twice, what tells the two apart (("consultation_assigned",
    # <consultation id>, <doctor id>)). Parts, never one string joined by "/", so that no
    # id or user id, whatever it holds, can make two facts' notifications share an id.
    key: tuple[str, ...]
    # The id of what it is about: a reservation, consultation, payment or payout.
    subject_id: str
    recipients: tuple[Recipient, ...]
    details: Mapping[str, Value] = field(default_factory=dict)
    # Whose name and time zone the text uses, when the fact involves a doctor.
    doctor_id: str = ""

    def __post_init__(self) -> None:
        if not self.key or not self.subject_id:
            raise ValueError(f"a {self.kind.value} fact needs a key and a subject id")
        if not self.recipients or any(not r.user_id for r in self.recipients):
            raise ValueError(f"a {self.kind.value} fact needs recipients with user ids")
