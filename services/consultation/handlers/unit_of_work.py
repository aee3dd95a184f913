"""What consultation's handlers see of a transaction: consultation's repositories and its
outbox, whether the database keeps them (adapters/unit_of_work.py) or a unit test's
memory; and the audit entry every look at clinical data leaves in that transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from runtime import ids
from runtime.unit import Unit
from services.consultation.domain.audit import AuditEntry, SubjectKind
from services.consultation.domain.caller import Caller

if TYPE_CHECKING:
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

_CONSULTATION_IDS = ids.namespace("consultation")


class ConsultationUnit(Unit, Protocol):
    doctors: Doctors
    prices: PlatformPrices
    intakes: Intakes
    checkouts: Checkouts
    clinical_sessions: ClinicalSessions
    consultations: Consultations
    messages: ChatMessages
    audit: AuditEntries


def derived_id(*parts: object) -> str:
    """A stable id from what makes a thing unique, so a retried request or a redelivered
    event makes the same intake, checkout or session rather than a second one."""
    return ids.derived_id(_CONSULTATION_IDS, *parts)


async def audited(
    uow: ConsultationUnit,
    caller: Caller,
    action: str,
    kind: SubjectKind,
    *subject_ids: str,
    now: datetime,
) -> None:
    """Every read or write of clinical data leaves who, what, when and from where: one
    entry per record, in the transaction that reads or writes it."""
    await uow.audit.add_all(
        [
            AuditEntry.of(
                entry_id=str(uuid.uuid4()),
                caller=caller,
                action=action,
                subject_kind=kind,
                subject_id=subject_id,
                now=now,
            )
            for subject_id in subject_ids
        ]
    )
