"""What consultation shows without recording that it was seen: the admins' audit trail.
(Every read of clinical data is itself audited, so those reads live with the clinical
handlers, not here.)"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.wire import PageRequest
from services.consultation.domain.audit import AuditEntry
from services.consultation.handlers.unit_of_work import ConsultationUnit


@dataclass(frozen=True)
class AuditQuery:
    subject_id: str | None
    actor_id: str | None


async def audit_entries(
    uow: ConsultationUnit, query: AuditQuery, asked: PageRequest
) -> tuple[list[AuditEntry], str]:
    """Newest first."""
    async with uow:
        found = await uow.audit.page(
            subject_id=query.subject_id,
            actor_id=query.actor_id,
            after=asked.after,
            limit=asked.limit,
        )
    return asked.cut(found, lambda entry: (entry.occurred_at, entry.id))
