from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from runtime.errors import InvalidArgument
from runtime.instants import UnknownTimeZone, first_instant_reading, local_today, zone_named
from services.booking.domain.schedule import (
    END_OF_DAY,
    AvailabilityWindow,
    Weekday,
    WeeklyAvailability,
    local_days_span,
    slot_times,
)

EVERY_DAY = tuple(Weekday)


def every_day(start: time, end: time, minutes: int) -> WeeklyAvailability:
    return WeeklyAvailability(
        tuple(AvailabilityWindow(day, start, end) for day in EVERY_DAY),
        timedelta(minutes=minutes),
    )


def local(slots, zone_name: str) -> list[str]:
    zone = zone_named(zone_name)
    return [
        f"{slot.starts_at.astimezone(zone):%m-%d %H:%M%z}-{slot.ends_at.astimezone(zone):%H:%M%z}"
        for slot in slots
    ]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_window_is_cut_into_slots_of_the_given_length_and_the_remainder_is_unused():
    availability = WeeklyAvailability(
        (AvailabilityWindow(Weekday.MONDAY, time(9), time(10, 50)),), timedelta(minutes=30)
    )

    slots = slot_times(availability, zone_named("Asia/Tehran"), date(2025, 3, 3), date(2025, 3, 9))

    assert local(slots, "Asia/Tehran") == [
        "03-03 09:00+0330-09:30+0330",
        "03-03 09:30+0330-10:00+0330",
        "03-03 10:00+0330-10:30+0330",
    ]


def test_slots_follow_the_weekday_of_each_window_in_local_time():
    availability = WeeklyAvailability(
        (
            AvailabilityWindow(Weekday.SATURDAY, time(17), time(18)),
            AvailabilityWindow(Weekday.WEDNESDAY, time(8), time(9)),
        ),
        timedelta(hours=1),
    )

    slots = slot_times(availability, zone_named("Asia/Tehran"), date(2025, 3, 1), date(2025, 3, 8))

    # 1 March 2025 is a Saturday, 5 March a Wednesday.
    assert local(slots, "Asia/Tehran") == [
        "03-01 17:00+0330-18:00+0330",
        "03-05 08:00+0330-09:00+0330",
        "03-08 17:00+0330-18:00+0330",
    ]


def test_a_nine_oclock_slot_stays_nine_oclock_in_london_across_the_spring_change():
    # Clocks go forward at 01:00 GMT on Sunday 30 March 2025.
    slots = slot_times(
        every_day(time(9), time(10), 60),
        zone_named("Europe/London"),
        date(2025, 3, 29),
        date(2025, 3, 31),
    )

    assert [slot.starts_at for slot in slots] == [
        utc(2025, 3, 29, 9),
        utc(2025, 3, 30, 8),
        utc(2025, 3, 31, 8),
    ]


def test_a_nine_oclock_slot_stays_nine_oclock_in_new_york_across_the_autumn_change():
    # Clocks go back at 02:00 EDT on Sunday 2 November 2025.
    slots = slot_times(
        every_day(time(9), time(10), 60),
        zone_named("America/New_York"),
        date(2025, 11, 1),
        date(2025, 11, 3),
    )

    assert [slot.starts_at for slot in slots] == [
        utc(2025, 11, 1, 13),
        utc(2025, 11, 2, 14),
        utc(2025, 11, 3, 14),
    ]


def test_starts_in_the_hour_skipped_in_spring_are_left_out():
    slots = slot_times(
        every_day(time(1), time(4), 30),
        zone_named("America/New_York"),
        date(2025, 3, 9),
        date(2025, 3, 9),
    )

    assert local(slots, "America/New_York") == [
        "03-09 01:00-0500-01:30-0500",
        "03-09 01:30-0500-03:00-0400",
        "03-09 03:00-0400-03:30-0400",
        "03-09 03:30-0400-04:00-0400",
    ]


def test_a_slot_that_would_run_into_the_next_across_the_skipped_hour_is_dropped():
    # 01:30 EST plus 45 real minutes is 03:15 EDT, past the 03:00 slot's start.
    slots = slot_times(
        every_day(time(0, 45), time(4, 30), 45),
        zone_named("America/New_York"),
        date(2025, 3, 9),
        date(2025, 3, 9),
    )

    assert local(slots, "America/New_York") == [
        "03-09 00:45-0500-01:30-0500",
        "03-09 03:00-0400-03:45-0400",
        "03-09 03:45-0400-04:30-0400",
    ]


def test_the_hour_repeated_in_autumn_is_used_once_at_its_first_occurrence():
    slots = slot_times(
        every_day(time(0, 30), time(2, 30), 30),
        zone_named("America/New_York"),
        date(2025, 11, 2),
        date(2025, 11, 2),
    )

    assert local(slots, "America/New_York") == [
        "11-02 00:30-0400-01:00-0400",
        "11-02 01:00-0400-01:30-0400",
        "11-02 01:30-0400-01:00-0500",
        "11-02 02:00-0500-02:30-0500",
    ]


def test_london_skips_one_oclock_on_the_spring_change_and_not_the_day_before():
    availability = every_day(time(0), time(3), 60)
    zone = zone_named("Europe/London")

    saturday = slot_times(availability, zone, date(2025, 3, 29), date(2025, 3, 29))
    sunday = slot_times(availability, zone, date(2025, 3, 30), date(2025, 3, 30))

    assert local(saturday, "Europe/London") == [
        "03-29 00:00+0000-01:00+0000",
        "03-29 01:00+0000-02:00+0000",
        "03-29 02:00+0000-03:00+0000",
    ]
    assert local(sunday, "Europe/London") == [
        "03-30 00:00+0000-02:00+0100",
        "03-30 02:00+0100-03:00+0100",
    ]


def test_tehran_has_kept_one_offset_since_iran_dropped_daylight_saving_in_2022():
    zone = zone_named("Asia/Tehran")
    availability = every_day(time(9), time(9, 30), 30)

    def nine_oclock(day: date) -> datetime:
        return slot_times(availability, zone, day, day)[0].starts_at

    # Summer 2021 still had +04:30; winter, and every day from 2023 on, +03:30.
    assert nine_oclock(date(2021, 7, 1)) == utc(2021, 7, 1, 4, 30)
    assert nine_oclock(date(2021, 12, 1)) == utc(2021, 12, 1, 5, 30)
    for day in (date(2023, 7, 1), date(2024, 3, 21), date(2025, 3, 22), date(2025, 9, 22)):
        assert nine_oclock(day) == datetime.combine(day, time(5, 30), UTC)


def test_a_window_running_to_midnight_before_tehrans_midnight_gap_keeps_its_last_slot():
    # In 2022 Iran's clocks jumped from 24:00 on 21 March to 01:00 on 22 March.
    zone = zone_named("Asia/Tehran")
    late = WeeklyAvailability(
        (
            AvailabilityWindow(Weekday.MONDAY, time(23), END_OF_DAY),
            AvailabilityWindow(Weekday.TUESDAY, time(0), time(2)),
        ),
        timedelta(hours=1),
    )

    slots = slot_times(late, zone, date(2022, 3, 21), date(2022, 3, 22))

    assert local(slots, "Asia/Tehran") == [
        "03-21 23:00+0330-01:00+0430",
        "03-22 01:00+0430-02:00+0430",
    ]


def test_the_repeated_hour_before_midnight_in_tehran_2022_is_used_once():
    zone = zone_named("Asia/Tehran")
    evening = WeeklyAvailability(
        (AvailabilityWindow(Weekday.WEDNESDAY, time(22, 30), END_OF_DAY),), timedelta(minutes=30)
    )

    slots = slot_times(evening, zone, date(2022, 9, 21), date(2022, 9, 21))

    assert local(slots, "Asia/Tehran") == [
        "09-21 22:30+0430-23:00+0430",
        "09-21 23:00+0430-23:30+0430",
        "09-21 23:30+0430-23:00+0330",
    ]


def test_lord_howe_moves_its_clocks_by_half_an_hour_and_slots_follow():
    # Australia/Lord_Howe goes from +10:30 to +11:00 at 02:00 on 5 October 2025.
    slots = slot_times(
        every_day(time(1), time(3, 30), 30),
        zone_named("Australia/Lord_Howe"),
        date(2025, 10, 5),
        date(2025, 10, 5),
    )

    assert local(slots, "Australia/Lord_Howe") == [
        "10-05 01:00+1030-01:30+1030",
        "10-05 01:30+1030-02:30+1100",
        "10-05 02:30+1100-03:00+1100",
        "10-05 03:00+1100-03:30+1100",
    ]


def test_a_local_day_is_23_or_25_hours_long_on_the_change_days():
    zone = zone_named("America/New_York")

    spring = local_days_span(date(2025, 3, 9), date(2025, 3, 9), zone)
    autumn = local_days_span(date(2025, 11, 2), date(2025, 11, 2), zone)

    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)


def test_the_first_instant_reading_a_time_in_the_gap_is_the_jump():
    zone = zone_named("America/New_York")

    assert first_instant_reading(datetime(2025, 3, 9, 2, 30), zone) == utc(2025, 3, 9, 7)
    assert first_instant_reading(datetime(2025, 11, 2, 1, 30), zone) == utc(2025, 11, 2, 5, 30)


def test_today_is_the_doctors_local_date():
    just_before_midnight_utc = utc(2025, 3, 3, 23, 0)

    assert local_today(zone_named("Asia/Tehran"), just_before_midnight_utc) == date(2025, 3, 4)
    assert local_today(zone_named("America/New_York"), just_before_midnight_utc) == date(2025, 3, 3)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "localtime", "../etc/passwd", "utc"])
def test_a_name_that_is_not_an_iana_zone_is_refused(name: str):
    with pytest.raises(UnknownTimeZone) as error:
        zone_named(name)

    assert error.value.violations == [
        (
            "time_zone",
            f"{name!r} is not an IANA time zone, like Asia/Tehran",
        )
    ]


@pytest.mark.parametrize("name", ["Asia/Tehran", "Europe/London", "America/New_York", "UTC"])
def test_iana_zones_are_accepted(name: str):
    assert zone_named(name).key == name


@pytest.mark.parametrize(
    ("windows", "minutes", "field"),
    [
        ((AvailabilityWindow(Weekday.MONDAY, time(10), time(9)),), 30, "windows[0].end_time"),
        ((AvailabilityWindow(Weekday.MONDAY, time(10), time(10)),), 30, "windows[0].end_time"),
        (
            (AvailabilityWindow(Weekday.MONDAY, time(9, 0, 30), time(10)),),
            30,
            "windows[0].start_time",
        ),
        ((AvailabilityWindow(0, time(9), time(10)),), 30, "windows[0].day_of_week"),  # type: ignore[arg-type]
        ((), 0, "slot_duration"),
        ((), 24 * 60 + 1, "slot_duration"),
        (
            (
                AvailabilityWindow(Weekday.MONDAY, time(9), time(12)),
                AvailabilityWindow(Weekday.MONDAY, time(11), time(13)),
            ),
            30,
            "windows[1]",
        ),
    ],
)
def test_a_malformed_weekly_pattern_names_the_offending_field(windows, minutes, field):
    with pytest.raises(InvalidArgument) as error:
        WeeklyAvailability(windows, timedelta(minutes=minutes))

    assert field in [violation[0] for violation in error.value.violations]


def test_seconds_in_a_slot_length_are_refused():
    with pytest.raises(InvalidArgument):
        WeeklyAvailability((), timedelta(minutes=30, seconds=1))


def test_windows_on_different_days_or_touching_are_fine():
    WeeklyAvailability(
        (
            AvailabilityWindow(Weekday.MONDAY, time(9), time(12)),
            AvailabilityWindow(Weekday.MONDAY, time(12), time(13)),
            AvailabilityWindow(Weekday.TUESDAY, time(9), time(12)),
        ),
        timedelta(minutes=30),
    )


def test_an_empty_pattern_yields_no_slots():
    availability = WeeklyAvailability((), timedelta(minutes=30))

    assert slot_times(availability, zone_named("UTC"), date(2025, 1, 1), date(2025, 12, 31)) == []


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        (date(2025, 3, 2), date(2025, 3, 1), "last_date"),
        (date(2025, 1, 1), date(2026, 1, 2), "last_date"),
    ],
)
def test_a_date_range_backwards_or_longer_than_a_year_is_refused(first, last, field):
    with pytest.raises(InvalidArgument) as error:
        slot_times(every_day(time(9), time(10), 30), zone_named("UTC"), first, last)

    assert error.value.violations[0][0] == field
