"""The queue: consultations created while no doctor was on shift, assigned when one is.

A periodic job (and the start of each shift, found with `next_assignment_at`) calls
`assign_waiting`; what is still waiting at its accept_by is refunded by
Consultation.refund_if_untaken.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.consultation.domain.assignment import Candidate, least_loaded
from services.consultation.domain.consultation import Consultation, ConsultationStatus
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.offers import ConsultationType


def queue_order(consultation: Consultation) -> tuple[bool, int, datetime, str]:
    """Emergency consultations first (they are sold as answered first), then by the
    triage's urgency, then first come, first served."""
    return (
        consultation.type is not ConsultationType.EMERGENCY,
        -consultation.triage.urgency,
        consultation.created_at,
        consultation.id,
    )


def assign_waiting(
    waiting: Iterable[Consultation], candidates: Iterable[Candidate], now: datetime
) -> list[Consultation]:
    """Give queued consultations, most pressing first, to doctors on shift, each to the
    least loaded at that moment; returns the ones assigned. Overdue ones are left for the
    refund, which the patient was promised at accept_by."""
    pool = {candidate.doctor.id: candidate for candidate in candidates}
    assigned = []
    for consultation in sorted(waiting, key=queue_order):
        if consultation.status is not ConsultationStatus.WAITING_FOR_DOCTOR:
            continue
        if now >= consultation.accept_by:
            continue
        picked = least_loaded(pool.values(), now)
        if picked is None:
            break
        consultation.assign(picked.doctor.id, now)
        pool[picked.doctor.id] = picked.took_one(now)
        assigned.append(consultation)
    return assigned


def next_assignment_at(doctors: Iterable[Doctor], now: datetime) -> datetime | None:
    """The next time an active doctor starts a shift, when the queue can move again."""
    starts = [doctor.next_shift_start(now) for doctor in doctors if doctor.active]
    return min((start for start in starts if start is not None), default=None)
