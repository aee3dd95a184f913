"""Who gets a consultation: the least-loaded active doctor on shift now.

Load is the number of consultations a doctor holds open (assigned and not yet completed
or refunded). Ties go to the doctor who has waited longest since their last assignment,
then to the smallest id, so the choice is the same on every replica and in every replay,
and equal doctors take turns instead of the first in the list taking everything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.consultation.domain.doctor import Doctor

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    doctor: Doctor
    open_consultations: int
    last_assigned_at: datetime | None = None

    def took_one(self, now: datetime) -> Candidate:
        return replace(self, open_consultations=self.open_consultations + 1, last_assigned_at=now)


def _turn(candidate: Candidate) -> tuple[int, datetime, str]:
    return (
        candidate.open_consultations,
        candidate.last_assigned_at or _NEVER,
        candidate.doctor.id,
    )


def least_loaded(
    candidates: Iterable[Candidate], now: datetime, *, excluding: Collection[str] = ()
) -> Candidate | None:
    """The candidate to assign next among active doctors on shift at `now`, leaving out
    `excluding` (doctors who declined already), or None when nobody is there."""
    available = [
        candidate
        for candidate in candidates
        if candidate.doctor.active
        and candidate.doctor.id not in excluding
        and candidate.doctor.on_shift(now)
    ]
    return min(available, key=_turn, default=None)
