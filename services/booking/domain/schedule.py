"""A doctor's weekly availability, in their local wall-clock time, and the slots it yields.

Slots are cut on the wall clock and placed on the timeline afterwards, so a 09:00 slot is
09:00 for the doctor on both sides of a daylight-saving change. A slot starts at the first
instant the doctor's clock reads its start, lasts its full length in real time, and is
kept only if it is over by the first instant the clock reads its end. That one rule:

- uses the first occurrence of a start the clock shows twice (the hour repeated when
  clocks go back), and not the repeat;
- drops a start the clock never shows (the hour skipped when clocks go forward), whose
  slot would start at the jump and so end too late, and a slot that runs across the jump;
- and, as the first instant reading a wall time only grows with it, keeps slots from
  overlapping one another or running past their window.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from runtime.errors import InvalidArgument
from runtime.instants import first_instant_reading
from services.booking.domain.slot import Slot, SlotTime

# An end of time(0) means 24:00: a window's end must come after its start.
END_OF_DAY = time(0)
MAX_SLOT_LENGTH = timedelta(hours=24)
# How many local days one regeneration may cover; bounds the work and the rows written.
MAX_RANGE_DAYS = 366

_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)


class Weekday(IntEnum):
    """ISO numbering, as date.isoweekday() and google.type.DayOfWeek."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7


@dataclass(frozen=True)
class AvailabilityWindow:
    """Bookable time every `day` from `start` to `end`, on the doctor's wall clock.

    `end` is END_OF_DAY (time(0)) for a window that runs to midnight; a window across
    midnight is two windows.
    """

    day: Weekday
    start: time
    end: time

    @property
    def _minutes(self) -> tuple[int, int]:
        end = 24 * 60 if self.end == END_OF_DAY else self.end.hour * 60 + self.end.minute
        return self.start.hour * 60 + self.start.minute, end

    def violations(self, field: str) -> list[tuple[str, str]]:
        violations = []
        if self.day not in range(1, 8):
            violations.append((f"{field}.day_of_week", "must be from Monday (1) to Sunday (7)"))
        for name, value in (("start_time", self.start), ("end_time", self.end)):
            if value.second or value.microsecond or value.tzinfo is not None:
                violations.append((f"{field}.{name}", "must be a whole minute, without a zone"))
        start, end = self._minutes
        if end <= start:
            violations.append((f"{field}.end_time", "must be after start_time"))
        return violations

    def overlaps(self, other: AvailabilityWindow) -> bool:
        (start, end), (other_start, other_end) = self._minutes, other._minutes
        return self.day == other.day and start < other_end and other_start < end

    def wall_starts(self, day: date, length: timedelta) -> Iterator[datetime]:
        """Wall-clock starts of the slots that fit on `day`, a date falling on self.day."""
        start, end = self._minutes
        midnight = datetime.combine(day, time(0))
        wall = midnight + start * _MINUTE
        while wall + length <= midnight + end * _MINUTE:
            yield wall
            wall += length


@dataclass(frozen=True)
class WeeklyAvailability:
    """The weekly pattern: windows, none overlapping, cut into slots of `slot_length`."""

    windows: tuple[AvailabilityWindow, ...]
    slot_length: timedelta

    def __post_init__(self) -> None:
        violations: list[tuple[str, str]] = []
        if not _MINUTE <= self.slot_length <= MAX_SLOT_LENGTH or self.slot_length % _MINUTE:
            violations.append(("slot_duration", "must be whole minutes, from 1 minute to 24 h"))
        for index, window in enumerate(self.windows):
            violations += window.violations(f"windows[{index}]")
            violations += [
                (f"windows[{index}]", f"overlaps windows[{earlier}] on the same day")
                for earlier, other in enumerate(self.windows[:index])
                if window.overlaps(other)
            ]
        if violations:
            raise InvalidArgument.many(violations)

    def windows_on(self, day: date) -> list[AvailabilityWindow]:
        return sorted(
            (window for window in self.windows if window.day == day.isoweekday()),
            key=lambda window: window.start,
        )


def slot_times(
    availability: WeeklyAvailability, zone: ZoneInfo, first: date, last: date
) -> list[SlotTime]:
    """The slots `availability` yields on the local dates `first` to `last`, by start."""
    if last < first:
        raise InvalidArgument("last_date", "must not be before first_date")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidArgument("last_date", f"must be within {MAX_RANGE_DAYS} days of first_date")
    length = availability.slot_length
    slots: list[SlotTime] = []
    for day in (first + offset * _DAY for offset in range((last - first).days + 1)):
        for window in availability.windows_on(day):
            for wall in window.wall_starts(day, length):
                starts_at = first_instant_reading(wall, zone)
                if starts_at + length <= first_instant_reading(wall + length, zone):
                    slots.append(SlotTime(starts_at, starts_at + length))
    return slots


def local_days_span(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants from the start of local `first` to the end of local `last`."""
    return (
        first_instant_reading(datetime.combine(first, time(0)), zone),
        first_instant_reading(datetime.combine(last + _DAY, time(0)), zone),
    )


@dataclass(frozen=True)
class Replan:
    """What regenerating a range changes: slots to create, free slots to withdraw."""

    create: list[SlotTime]
    withdraw: list[Slot]


def replan(existing: Iterable[Slot], wanted: Sequence[SlotTime], now: datetime) -> Replan:
    """Move a doctor's slots in a regenerated range to a new pattern, and withdraw the extras.

    `existing` are the doctor's slots in the range that are not withdrawn. A held or booked
    slot stays whatever the pattern says (a patient holds or paid for it), and so does one
    that has started (it is history). Other slots stay if the pattern still wants them and
    are withdrawn otherwise. A wanted time is created unless it has started or would
    overlap a slot that stays. Withdrawn slots are marked, not deleted: checkouts name them.

    A slot is its doctor and its start, so a free slot whose start the pattern still wants
    with another length is not withdrawn: the created slot takes its place.
    """
    wanted_times = set(wanted)
    keep: list[Slot] = []
    spare: list[Slot] = []
    for slot in existing:
        if slot.in_use(now) or slot.starts_at <= now or slot.time in wanted_times:
            keep.append(slot)
        else:
            spare.append(slot)
    # Slots that stay never overlap one another, so by start they are also by end.
    keep.sort(key=lambda slot: slot.starts_at)
    starts = [slot.starts_at for slot in keep]

    def overlaps_kept(time_: SlotTime) -> bool:
        before = bisect.bisect_left(starts, time_.ends_at)
        return before > 0 and keep[before - 1].ends_at > time_.starts_at

    create = [time_ for time_ in wanted if time_.starts_at > now and not overlaps_kept(time_)]
    replaced = {time_.starts_at for time_ in create}
    withdraw = [slot for slot in spare if slot.starts_at not in replaced]
    for slot in withdraw:
        slot.withdraw(now)
    return Replan(create, withdraw)


@dataclass(frozen=True)
class StoredAvailability:
    """A doctor's weekly pattern and the local dates it was last applied to."""

    doctor_id: str
    availability: WeeklyAvailability
    first_date: date
    last_date: date
