"""Slot generation against random weekly patterns, zones and dates near clock changes."""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.instants import first_instant_reading, zone_named
from services.booking.domain.schedule import (
    END_OF_DAY,
    AvailabilityWindow,
    Weekday,
    WeeklyAvailability,
    local_days_span,
    slot_times,
)

# Forward and back by an hour at night (London, New York), by half an hour (Lord Howe),
# at midnight (Santiago, Havana, Tehran until 2022), and no change at all (Tehran since).
ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Asia/Tehran",
]


@functools.cache
def change_days(zone_name: str) -> list[date]:
    """Local dates from 2021 to 2025 that are not 24 hours long: the clocks changed."""
    zone = zone_named(zone_name)
    days = []
    day = date(2021, 1, 1)
    while day.year <= 2025:
        start, end = local_days_span(day, day, zone)
        if end - start != timedelta(hours=24):
            days.append(day)
        day += timedelta(days=1)
    return days


# Mostly at night, where clocks change: around midnight and in the small hours.
window_bounds = st.one_of(
    st.integers(0, 4 * 60),
    st.integers(21 * 60, 24 * 60),
    st.integers(0, 24 * 60),
)


@st.composite
def weekly_patterns(draw: st.DrawFn) -> WeeklyAvailability:
    windows = []
    for day in Weekday:
        bounds = draw(st.lists(window_bounds, unique=True, max_size=6).map(sorted))
        for start, end in zip(bounds[::2], bounds[1::2], strict=False):
            windows.append(AvailabilityWindow(day, minutes(start), minutes(end)))
    return WeeklyAvailability(tuple(windows), timedelta(minutes=draw(st.integers(5, 240))))


def minutes(count: int) -> time:
    return END_OF_DAY if count == 24 * 60 else time(count // 60, count % 60)


@st.composite
def date_ranges(draw: st.DrawFn, zone_name: str) -> tuple[date, date]:
    around = change_days(zone_name)
    if around and draw(st.integers(0, 3)):
        before, after = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        change = draw(st.sampled_from(around))
        return change - timedelta(days=before), change + timedelta(days=after)
    first = draw(st.dates(date(2021, 1, 1), date(2025, 12, 31)))
    return first, first + timedelta(days=draw(st.integers(0, 6)))


@st.composite
def schedules(draw: st.DrawFn):
    zone_name = draw(st.sampled_from(ZONES))
    return zone_name, draw(weekly_patterns()), *draw(date_ranges(zone_name))


def window_of(availability: WeeklyAvailability, wall: datetime) -> AvailabilityWindow | None:
    for window in availability.windows_on(wall.date()):
        start = datetime.combine(wall.date(), window.start)
        end = datetime.combine(wall.date(), window.end) + (
            timedelta(days=1) if window.end == END_OF_DAY else timedelta(0)
        )
        if start <= wall < end:
            return window
    return None


@settings(max_examples=75, deadline=None)
@given(schedules())
def test_slots_never_overlap_and_each_starts_on_the_grid_of_a_window(schedule):
    zone_name, availability, first, last = schedule
    zone = zone_named(zone_name)

    slots = slot_times(availability, zone, first, last)

    for earlier, later in itertools.pairwise(slots):
        assert earlier.ends_at <= later.starts_at
    for slot in slots:
        assert slot.starts_at.tzinfo is UTC
        assert slot.ends_at - slot.starts_at == availability.slot_length
        wall = slot.starts_at.astimezone(zone).replace(tzinfo=None)
        assert first <= wall.date() <= last
        window = window_of(availability, wall)
        assert window is not None, f"{wall} is in no window"
        window_start = datetime.combine(wall.date(), window.start)
        assert (wall - window_start) % availability.slot_length == timedelta(0)
        window_end = datetime.combine(wall.date(), time(0)) + timedelta(
            hours=24 if window.end == END_OF_DAY else window.end.hour,
            minutes=window.end.minute,
        )
        assert slot.ends_at <= first_instant_reading(window_end, zone)


@settings(max_examples=60, deadline=None)
@given(schedules())
def test_on_a_day_without_a_clock_change_every_window_is_cut_in_full(schedule):
    zone_name, availability, first, last = schedule
    zone = zone_named(zone_name)
    slots = slot_times(availability, zone, first, last)
    changing = set(change_days(zone_name))
    day = first
    for day in (first + timedelta(days=offset) for offset in range((last - first).days + 1)):
        if day not in changing:
            expected = sum(
                len(list(window.wall_starts(day, availability.slot_length)))
                for window in availability.windows_on(day)
            )
            on_day = [slot for slot in slots if slot.starts_at.astimezone(zone).date() == day]
            assert len(on_day) == expected


def test_the_change_days_the_properties_lean_on_are_there():
    assert date(2025, 3, 30) in change_days("Europe/London")
    assert date(2022, 3, 22) in change_days("Asia/Tehran")
    assert [day for day in change_days("Asia/Tehran") if day.year >= 2023] == []
