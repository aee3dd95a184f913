"""The sandbox's ids and log lines, which its speed-ups must leave as they were."""

from __future__ import annotations

import logging
import re
import string

from sandbox.__main__ import _Formatter
from sandbox.objects import new_id

FORMAT = "%(asctime)s %(name)s %(message)s"
# 2030-03-17 17:46:40 UTC, and instants within and across its second.
INSTANTS = (1_900_000_000.0, 1_900_000_000.5, 1_900_000_001.999, 1_900_000_061.0005)


def test_ids_are_stripes_shape_drawn_from_every_letter_and_digit():
    ids = [new_id("cs_test") for _ in range(3000)]
    assert all(re.fullmatch(r"cs_test_[A-Za-z0-9]{24}", found) for found in ids)
    assert len(set(ids)) == len(ids)
    # 72 000 draws from 62 characters: a mapping that left one out, or favoured the
    # first few of the alphabet, shows here.
    drawn = "".join(found.removeprefix("cs_test_") for found in ids)
    counts = [drawn.count(character) for character in string.ascii_letters + string.digits]
    assert min(counts) > 0.8 * len(drawn) / 62
    assert max(counts) < 1.2 * len(drawn) / 62


def test_a_log_line_reads_as_loggings_own_format_gives_it():
    ours, loggings = _Formatter(FORMAT), logging.Formatter(FORMAT)
    for instant in INSTANTS:
        record = logging.LogRecord("sandbox.webhooks", logging.INFO, "", 1, "sent", None, None)
        record.created = instant
        record.msecs = int((instant - int(instant)) * 1000) + 0.0
        assert ours.format(record) == loggings.format(record)
