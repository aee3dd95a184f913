"""Instants are aware UTC datetimes everywhere in nobat; wall clocks are read in a zone.

Domains compare and add to instants; arithmetic on a datetime in a zone with daylight
saving would quietly be wall-clock arithmetic. A doctor's schedule and shifts are wall
times in their IANA zone, placed on the timeline by `first_instant_reading`, and "today"
is always today on some clock in a zone, never the machine's.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from runtime.errors import InvalidArgument

Clock = Callable[[], datetime]

# Test-only: moves every service's clock by this many seconds, so the suite can live
# through a midnight in Tehran, a DST night or a leap day at any real hour. Time still
# passes at its real pace; tokens and webhook signatures keep the real clock.
CLOCK_SHIFT_SETTING = "NOBAT_CLOCK_SHIFT_SECONDS"


def require_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is not UTC:
        raise ValueError(f"{name} must be an aware datetime in UTC, not {value!r}")
    return value


def utc_now() -> datetime:
    return datetime.now(UTC)


def shifted_clock(shift: timedelta) -> Clock:
    """The real clock moved by `shift`; the real clock itself when there is none."""
    if not shift:
        return utc_now
    return lambda: datetime.now(UTC) + shift


def parse_instant(text: str, name: str) -> datetime:
    """An ISO 8601 instant with its offset ("2028-02-29T20:45:00Z"), in UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 instant, not {text!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"{name} must give its offset from UTC (a Z or +00:00): {text!r}")
    return value.astimezone(UTC)


class UnknownTimeZone(InvalidArgument):
    def __init__(self, name: str) -> None:
        super().__init__("time_zone", f"{name!r} is not an IANA time zone, like Asia/Tehran")


@functools.cache
def _iana_names() -> frozenset[str]:
    # "localtime" is the host's own zone, not a place a doctor works in.
    return frozenset(available_timezones() - {"localtime"})


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or UnknownTimeZone."""
    if name not in _iana_names():
        raise UnknownTimeZone(name)
    return ZoneInfo(name)


def local_today(zone: ZoneInfo, now: datetime) -> date:
    """The date a clock in `zone` shows at `now`."""
    return now.astimezone(zone).date()


def first_instant_reading(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which a clock in `zone` reads `wall` (naive) or later: `wall`
    itself, its first occurrence when the clock repeats it, or the jump over it when the
    clock skips it."""
    early, late = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    if _reading(early, zone) >= wall:
        return early
    # In a skipped stretch `early` reads before `wall` and `late` after it; offsets
    # change on whole seconds, so the jump is the first second that reads past it.
    seconds = range(int(early.timestamp()), int(late.timestamp()) + 1)
    jump = bisect.bisect_left(seconds, True, key=lambda s: _reading(_at(s), zone) >= wall)
    return _at(seconds[jump])


def _at(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC)


def _reading(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)
