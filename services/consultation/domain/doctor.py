"""A doctor as consultation knows them: booking's directory entry, copied, plus what
consultation owns about them (weekly shifts and their own consultation prices)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from runtime.instants import require_utc, zone_named
from services.consultation.domain.offers import PriceList
from services.consultation.domain.shifts import WeeklyShifts, next_shift_start, on_shift


@dataclass
class Doctor:
    id: str
    # Booking's directory owns these; DoctorUpdated keeps the copy current.
    time_zone: str
    active: bool
    # The directory entry's updated_at, so an older update arriving late changes nothing.
    updated_at: datetime
    shifts: WeeklyShifts = field(default_factory=WeeklyShifts)
    # Empty: the platform defaults apply to every type.
    prices: PriceList = field(default_factory=PriceList)

    def __post_init__(self) -> None:
        require_utc(self.updated_at, "updated_at")
        zone_named(self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.time_zone)

    def on_shift(self, now: datetime) -> bool:
        return on_shift(self.shifts, self.zone, now)

    def next_shift_start(self, now: datetime) -> datetime | None:
        return next_shift_start(self.shifts, self.zone, now)

    def directory_updated(self, *, time_zone: str, active: bool, updated_at: datetime) -> bool:
        """Take booking's newer entry; shifts stay on the wall clock, in the new zone."""
        require_utc(updated_at, "updated_at")
        if updated_at <= self.updated_at:
            return False
        zone_named(time_zone)
        self.time_zone, self.active, self.updated_at = time_zone, active, updated_at
        return True
