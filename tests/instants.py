"""The instants the suite's stacks live at, whatever the real date and hour.

Each stack's clock is moved to one of these (LocalStack.at), so every run meets the
moments where a date cut in UTC and one cut in a doctor's zone disagree, or where the
calendar does something unusual: a test or a service that reads the machine's clock, or
cuts "today" in the wrong zone, fails on every run instead of one evening in seven.
NOBAT_TEST_INSTANT=2027-06-01T12:00:00Z moves every stack to that instant instead, to
try the suite at a moment of one's choosing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from runtime.instants import parse_instant

# Thursday 21:15 UTC, already Friday 00:45 in Tehran: the seed doctors work Saturday to
# Wednesday, so there is no slot "today" on either side of the date line.
THURSDAY_NIGHT = datetime(2027, 3, 11, 21, 15, tzinfo=UTC)
# New Year's Eve 23:59 UTC, a Friday; Saturday 1 January 2028 in Tehran.
NEW_YEARS_EVE = datetime(2027, 12, 31, 23, 59, tzinfo=UTC)
# Leap day 20:45 UTC; 1 March 00:15 in Tehran.
LEAP_DAY = datetime(2028, 2, 29, 20, 45, tzinfo=UTC)
# A minute before London's clocks go forward (01:00 GMT becomes 02:00 BST).
LONDON_SPRING_FORWARD = datetime(2027, 3, 28, 0, 59, tzinfo=UTC)
# A minute before New York's clocks go back (02:00 EDT becomes 01:00 EST).
NEW_YORK_FALL_BACK = datetime(2027, 11, 7, 5, 59, tzinfo=UTC)

ALL = (THURSDAY_NIGHT, NEW_YEARS_EVE, LEAP_DAY, LONDON_SPRING_FORWARD, NEW_YORK_FALL_BACK)


def stack_instant(default: datetime) -> datetime:
    """`default`, unless NOBAT_TEST_INSTANT names another instant for every stack."""
    chosen = os.environ.get("NOBAT_TEST_INSTANT")
    if not chosen:
        return default
    return parse_instant(chosen, "NOBAT_TEST_INSTANT")
