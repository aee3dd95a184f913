"""Doctors' weekly shifts, on their own wall clock, and whether they are at work now.

A shift such as "Sunday 00:00 to 06:00, Europe/London" starts at the first instant a
clock in the doctor's zone reads its start and ends at the first instant it reads its
end. So a shift keeps its local hours across daylight-saving changes: it is an hour
shorter on the night the clocks skip an hour inside it and an hour longer on the night
they repeat one, and a start that falls in a skipped hour begins when the clock jumps.
Shifts that meet (an overnight shift split at midnight) are one stretch of work.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from runtime.errors import InvalidArgument
from runtime.instants import first_instant_reading, require_utc

# An end of time(0) means 24:00, as google.type.TimeOfDay's 24:00 does.
END_OF_DAY = time(0)
# Far enough to meet every weekday once, plus the day before and after today.
_LOOKAHEAD_DAYS = 9
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Shift:
    """Every week on `day` (ISO: 1 is Monday, 7 Sunday) from `start` to `end`, local time."""

    day: int
    start: time
    end: time

    @property
    def minutes(self) -> tuple[int, int]:
        """Start and end as minutes after local midnight; the end may be 24 * 60."""
        end = 24 * 60 if self.end == END_OF_DAY else self.end.hour * 60 + self.end.minute
        return self.start.hour * 60 + self.start.minute, end

    def violations(self, field: str) -> list[tuple[str, str]]:
        found = []
        if self.day not in range(1, 8):
            found.append((f"{field}.day_of_week", "must be from Monday (1) to Sunday (7)"))
        for name, value in (("start_time", self.start), ("end_time", self.end)):
            if value.second or value.microsecond or value.tzinfo is not None:
                found.append((f"{field}.{name}", "must be a whole minute, without a zone"))
        start, end = self.minutes
        if end <= start:
            found.append((f"{field}.end_time", "must be after start_time; split overnight shifts"))
        return found

    def span_on(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """Where this shift lies on the timeline on local date `day`."""
        midnight = datetime.combine(day, time(0))
        start, end = (midnight + timedelta(minutes=m) for m in self.minutes)
        return first_instant_reading(start, zone), first_instant_reading(end, zone)


@dataclass(frozen=True)
class WeeklyShifts:
    """A doctor's whole weekly pattern, as SetDoctorShifts replaces it; no two overlap."""

    shifts: tuple[Shift, ...] = ()

    def __post_init__(self) -> None:
        violations: list[tuple[str, str]] = []
        for index, shift in enumerate(self.shifts):
            violations += shift.violations(f"shifts[{index}]")
        if not violations:
            violations += [
                (f"shifts[{later}]", f"overlaps shifts[{earlier}] on the same day")
                for (earlier, a), (later, b) in itertools.combinations(enumerate(self.shifts), 2)
                if a.day == b.day and a.minutes[0] < b.minutes[1] and b.minutes[0] < a.minutes[1]
            ]
        if violations:
            raise InvalidArgument.many(violations)

    def stretches(self, zone: ZoneInfo, around: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Stretches of work from the day before `around`'s local date to a week after it,
        in order, with shifts that meet joined into one."""
        today = around.astimezone(zone).date()
        spans = sorted(
            shift.span_on(day, zone)
            for day in (today + offset * _DAY for offset in range(-1, _LOOKAHEAD_DAYS))
            for shift in self.shifts
            if shift.day == day.isoweekday()
        )
        current: tuple[datetime, datetime] | None = None
        for start, end in spans:
            if end <= start:
                continue  # the clock skipped the whole shift
            if current is not None and start <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                yield current
            current = (start, end)
        if current is not None:
            yield current


def on_shift(shifts: WeeklyShifts, zone: ZoneInfo, now: datetime) -> bool:
    require_utc(now, "now")
    return any(start <= now < end for start, end in shifts.stretches(zone, now))


def next_shift_start(shifts: WeeklyShifts, zone: ZoneInfo, now: datetime) -> datetime | None:
    """When the doctor next starts work after `now` (not counting a stretch already under
    way), or None without shifts."""
    require_utc(now, "now")
    return next((start for start, _ in shifts.stretches(zone, now) if start > now), None)
