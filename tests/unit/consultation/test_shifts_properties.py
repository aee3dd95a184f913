"""Shifts against random weekly patterns, zones and instants near clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from runtime.instants import zone_named
from services.consultation.domain.shifts import (
    END_OF_DAY,
    Shift,
    WeeklyShifts,
    next_shift_start,
    on_shift,
)

# Zones whose clocks move by an hour at night, by half an hour, at midnight, or never.
ZONES = [
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Europe/London",
    "Asia/Tehran",
]
SECOND = timedelta(seconds=1)


def minute_of_day(minutes: int) -> time:
    return END_OF_DAY if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


@st.composite
def weekly_patterns(draw: st.DrawFn) -> WeeklyShifts:
    shifts = []
    for day in draw(st.sets(st.integers(1, 7), min_size=1, max_size=4)):
        # Mostly at night, where clocks change.
        start = draw(st.sampled_from([0, 30, 60, 90, 120, 150, 180, 23 * 60, 600]))
        end = draw(st.integers(start + 15, 24 * 60))
        shifts.append(Shift(day, minute_of_day(start), minute_of_day(end)))
    return WeeklyShifts(tuple(shifts))


# The days of 2027 when these zones change their clocks, and some ordinary ones.
instants = st.builds(
    lambda day, minutes: datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=day, minutes=minutes),
    st.sampled_from([86, 87, 88, 95, 96, 302, 303, 309, 310, 150]),
    st.integers(0, 24 * 60 - 1),
)


@given(weekly_patterns(), st.sampled_from(ZONES), instants)
def test_the_next_start_begins_a_stretch_of_work_within_a_week_or_so(shifts, zone_name, now):
    zone = zone_named(zone_name)

    start = next_shift_start(shifts, zone, now)

    assert start is not None
    assert now < start <= now + timedelta(days=8)
    assert on_shift(shifts, zone, start)
    assert not on_shift(shifts, zone, start - SECOND)


@given(weekly_patterns(), st.sampled_from(ZONES), instants)
def test_at_work_means_the_clock_has_passed_a_shifts_start_and_not_yet_its_end(
    shifts, zone_name, now
):
    zone = zone_named(zone_name)
    local = now.astimezone(zone)
    minutes = local.hour * 60 + local.minute

    # Away from the hours a clock change touches, the wall clock alone decides.
    steady = all(
        (now + hours).astimezone(zone).utcoffset() == local.utcoffset()
        for hours in (timedelta(hours=-26), timedelta(hours=26))
    )
    if steady:
        expected = any(
            shift.day == local.isoweekday() and shift.minutes[0] <= minutes < shift.minutes[1]
            for shift in shifts.shifts
        )
        assert on_shift(shifts, zone, now) == expected
