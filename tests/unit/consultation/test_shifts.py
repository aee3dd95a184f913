"""Weekly shifts on the doctor's wall clock, across daylight-saving changes.

Europe/London goes forward at 01:00 GMT on Sunday 28 March 2027 (01:00 → 02:00) and back
at 01:00 GMT on Sunday 31 October 2027 (02:00 → 01:00); Asia/Tehran keeps +03:30 all
year since 2022.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from runtime.errors import InvalidArgument
from runtime.instants import UnknownTimeZone, first_instant_reading, zone_named
from services.consultation.domain.shifts import (
    END_OF_DAY,
    Shift,
    WeeklyShifts,
    next_shift_start,
    on_shift,
)

LONDON = zone_named("Europe/London")
TEHRAN = zone_named("Asia/Tehran")
SUNDAY = 7


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(*shifts: tuple[int, time, time]) -> WeeklyShifts:
    return WeeklyShifts(tuple(Shift(*shift) for shift in shifts))


def at_work(shifts: WeeklyShifts, zone, *instants: datetime) -> list[bool]:
    return [on_shift(shifts, zone, instant) for instant in instants]


def test_a_shift_is_read_on_the_doctors_clock_in_tehran_all_year():
    mondays = weekly((1, time(9), time(17)))

    # 09:00 in Tehran is 05:30 UTC in winter and in summer alike.
    for monday in (utc(2027, 1, 4), utc(2027, 7, 5)):
        assert at_work(
            mondays, TEHRAN, monday.replace(hour=5, minute=29), monday.replace(hour=5, minute=30)
        ) == [False, True]
        assert at_work(
            mondays, TEHRAN, monday.replace(hour=13, minute=29), monday.replace(hour=13, minute=30)
        ) == [True, False]


def test_a_nine_to_five_shift_stays_nine_to_five_in_london_across_the_spring_change():
    shifts = weekly((6, time(9), time(17)), (SUNDAY, time(9), time(17)))

    # Saturday 27 March, still GMT: 09:00 is 09:00 UTC.
    assert at_work(shifts, LONDON, utc(2027, 3, 27, 8, 59), utc(2027, 3, 27, 9)) == [False, True]
    # Sunday 28 March, now BST: 09:00 is 08:00 UTC, 17:00 is 16:00 UTC.
    assert at_work(shifts, LONDON, utc(2027, 3, 28, 7, 59), utc(2027, 3, 28, 8)) == [False, True]
    assert at_work(shifts, LONDON, utc(2027, 3, 28, 15, 59), utc(2027, 3, 28, 16)) == [True, False]


def test_a_night_shift_across_the_skipped_hour_is_an_hour_shorter():
    night = weekly((SUNDAY, time(0), time(6)))

    start = next_shift_start(night, LONDON, utc(2027, 3, 27, 12))

    assert start == utc(2027, 3, 28, 0)
    # 06:00 BST is 05:00 UTC: five hours of work, not six.
    assert at_work(night, LONDON, utc(2027, 3, 28, 4, 59), utc(2027, 3, 28, 5)) == [True, False]


def test_a_shift_starting_in_the_skipped_hour_starts_when_the_clock_jumps():
    shifts = weekly((SUNDAY, time(1, 30), time(4)))

    assert next_shift_start(shifts, LONDON, utc(2027, 3, 27)) == utc(2027, 3, 28, 1)
    assert at_work(shifts, LONDON, utc(2027, 3, 28, 0, 59), utc(2027, 3, 28, 1)) == [False, True]


def test_a_shift_wholly_inside_the_skipped_hour_does_not_happen_that_day():
    shifts = weekly((SUNDAY, time(1, 15), time(1, 45)))

    assert not any(at_work(shifts, LONDON, *(utc(2027, 3, 28, 0, m) for m in range(0, 60, 5))))
    assert not any(at_work(shifts, LONDON, *(utc(2027, 3, 28, 1, m) for m in range(0, 60, 5))))
    # The next Sunday it is back, at 01:15 BST.
    assert next_shift_start(shifts, LONDON, utc(2027, 3, 28)) == utc(2027, 4, 4, 0, 15)


def test_a_shift_across_the_repeated_hour_lasts_an_hour_longer_in_autumn():
    shifts = weekly((SUNDAY, time(1), time(2)))

    # 01:00 BST is 00:00 UTC; the clock reads 02:00 only once, at 02:00 GMT.
    assert next_shift_start(shifts, LONDON, utc(2027, 10, 30)) == utc(2027, 10, 31, 0)
    assert at_work(
        shifts,
        LONDON,
        utc(2027, 10, 30, 23, 59),
        utc(2027, 10, 31, 0, 30),
        utc(2027, 10, 31, 1, 30),
        utc(2027, 10, 31, 2),
    ) == [False, True, True, False]


def test_shifts_that_meet_at_midnight_are_one_stretch_with_one_start():
    overnight = weekly((1, time(20), END_OF_DAY), (2, time(0), time(4)))

    # Monday 20:00 in Tehran is 16:30 UTC; Tuesday 04:00 is 00:30 UTC.
    monday_night = utc(2027, 3, 1, 21)
    assert at_work(overnight, TEHRAN, utc(2027, 3, 1, 20, 29), utc(2027, 3, 1, 20, 30)) == [
        True,
        True,
    ]
    assert next_shift_start(overnight, TEHRAN, monday_night) == utc(2027, 3, 8, 16, 30)


def test_the_next_start_is_found_a_week_ahead_and_none_without_shifts():
    mondays = weekly((1, time(9), time(10)))

    # From Monday 10:30 in Tehran the next start is the following Monday.
    assert next_shift_start(mondays, TEHRAN, utc(2027, 3, 1, 7)) == utc(2027, 3, 8, 5, 30)
    assert next_shift_start(WeeklyShifts(), TEHRAN, utc(2027, 3, 1)) is None
    assert not on_shift(WeeklyShifts(), TEHRAN, utc(2027, 3, 1))


def test_first_instant_reading_handles_the_ordinary_repeated_and_skipped_cases():
    assert first_instant_reading(datetime(2027, 3, 1, 9), TEHRAN) == utc(2027, 3, 1, 5, 30)
    assert first_instant_reading(datetime(2027, 10, 31, 1, 30), LONDON) == utc(2027, 10, 31, 0, 30)
    assert first_instant_reading(datetime(2027, 3, 28, 1, 30), LONDON) == utc(2027, 3, 28, 1)


@pytest.mark.parametrize(
    ("shift", "field"),
    [
        (Shift(0, time(9), time(10)), "shifts[0].day_of_week"),
        (Shift(8, time(9), time(10)), "shifts[0].day_of_week"),
        (Shift(1, time(10), time(9)), "shifts[0].end_time"),
        (Shift(1, time(10), time(10)), "shifts[0].end_time"),
        (Shift(1, time(9, 0, 30), time(10)), "shifts[0].start_time"),
    ],
)
def test_a_bad_shift_is_refused_naming_the_field(shift, field):
    with pytest.raises(InvalidArgument) as raised:
        WeeklyShifts((shift,))

    assert raised.value.violations[0][0] == field


def test_overlapping_shifts_on_one_day_are_refused_but_touching_ones_are_fine():
    with pytest.raises(InvalidArgument) as raised:
        weekly((1, time(9), time(13)), (2, time(9), time(13)), (1, time(12), time(18)))
    assert raised.value.violations == [("shifts[2]", "overlaps shifts[0] on the same day")]

    assert weekly((1, time(9), time(13)), (1, time(13), END_OF_DAY))


def test_a_zone_must_be_an_iana_name():
    for name in ("Mars/Olympus", "", "localtime", "../etc/passwd"):
        with pytest.raises(UnknownTimeZone):
            zone_named(name)
