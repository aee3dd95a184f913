"""The audit log of clinical data: who read or changed which intake, clinical session or
consultation, when, and from where.

Every read of clinical data writes one entry per record read, in the same transaction as
the read's answer is assembled, so a record nobody is told about was never shown.
Entries name records by id only; what was in them stays in the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from runtime.instants import require_utc
from services.consultation.domain.caller import Caller, Role


class SubjectKind(Enum):
    INTAKE = "intake"
    CLINICAL_SESSION = "clinical_session"
    CONSULTATION = "consultation"


@dataclass(frozen=True)
class AuditEntry:
    id: str
    actor_id: str
    actor_role: Role
    # The use case, such as "GetConsultation" or "SubmitSymptoms".
    action: str
    subject_kind: SubjectKind
    subject_id: str
    client_address: str
    user_agent: str
    occurred_at: datetime

    def __post_init__(self) -> None:
        require_utc(self.occurred_at, "occurred_at")
        if not self.action or not self.subject_id:
            raise ValueError("an audit entry names its action and its subject")

    @classmethod
    def of(
        cls,
        *,
        entry_id: str,
        caller: Caller,
        action: str,
        subject_kind: SubjectKind,
        subject_id: str,
        now: datetime,
    ) -> AuditEntry:
        return cls(
            id=entry_id,
            actor_id=caller.id,
            actor_role=caller.role,
            action=action,
            subject_kind=subject_kind,
            subject_id=subject_id,
            client_address=caller.client_address,
            user_agent=caller.user_agent,
            occurred_at=now,
        )
