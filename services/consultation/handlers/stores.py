"""The repositories of one unit of work, the outbox, and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db import UnitOfWork
from services.consultation.adapters.repository import (
    AuditEntries,
    ChatMessages,
    Checkouts,
    ClinicalSessions,
    Consultations,
    Doctors,
    Intakes,
    PlatformPrices,
)
from services.consultation.domain.audit import AuditEntry, SubjectKind
from services.consultation.domain.caller import Caller

_NOBAT_CONSULTATION = uuid.uuid5(uuid.NAMESPACE_URL, "urn:nobat:consultation")


def derived_id(*parts: object) -> str:
    """A stable id from what makes a thing unique, so a retried request or a redelivered
    event makes the same intake, checkout or session rather than a second one."""
    return str(uuid.uuid5(_NOBAT_CONSULTATION, "/".join(map(str, parts))))


class Stores:
    def __init__(self, session: AsyncSession) -> None:
        self.doctors = Doctors(session)
        self.prices = PlatformPrices(session)
        self.intakes = Intakes(session)
        self.checkouts = Checkouts(session)
        self.sessions = ClinicalSessions(session)
        self.consultations = Consultations(session)
        self.messages = ChatMessages(session)
        self.audit = AuditEntries(session)

    async def audited(
        self, caller: Caller, action: str, kind: SubjectKind, subject_id: str, now: datetime
    ) -> None:
        """Every read or write of clinical data leaves who, what, when and from where."""
        await self.audit.add(
            AuditEntry.of(
                entry_id=str(uuid.uuid4()),
                caller=caller,
                action=action,
                subject_kind=kind,
                subject_id=subject_id,
                now=now,
            )
        )


def publish(uow: UnitOfWork, *entities: object, correlation_id: str | None = None) -> None:
    """Queues the events the entities recorded for the outbox of this unit's commit."""
    uow.publish(*entities, correlation_id=correlation_id)
