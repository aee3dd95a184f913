"""runtime.batch: several writes written as the parts of one statement."""

from __future__ import annotations

import pytest

from runtime.batch import Part, Unsupported, joined

SLOT = "UPDATE slots SET status=$1::VARCHAR WHERE slots.id = $2::VARCHAR"
OUTBOX = "INSERT INTO outbox (event_id, subject) VALUES ($1::UUID, $2::VARCHAR)"
RESERVATION = (
    "INSERT INTO reservations (id, slot_id) VALUES ($1::VARCHAR, $2::VARCHAR) "
    "ON CONFLICT (id) DO UPDATE SET slot_id = excluded.slot_id"
)
PAYMENT_AND_TRAIL = (
    "WITH updated AS (UPDATE payments SET status=$2::VARCHAR WHERE payments.id = $1::VARCHAR) "
    "INSERT INTO payment_statuses (payment_id, status) VALUES ($3::VARCHAR, $4::VARCHAR)"
)


def test_each_part_gets_parameters_of_its_own_after_the_ones_before_it():
    statement = joined([Part.of(SLOT, 2), Part.of(OUTBOX, 2), Part.of(OUTBOX, 2)])
    assert statement == (
        "WITH _part0 AS (UPDATE slots SET status=$1::VARCHAR WHERE slots.id = $2::VARCHAR), "
        "_part1 AS (INSERT INTO outbox (event_id, subject) VALUES ($3::UUID, $4::VARCHAR)), "
        "_part2 AS (INSERT INTO outbox (event_id, subject) VALUES ($5::UUID, $6::VARCHAR)) "
        "SELECT 1"
    )


def test_a_part_with_a_with_of_its_own_has_it_raised_to_the_statement_s():
    """PostgreSQL refuses a data-modifying WITH anywhere but at the top."""
    statement = joined([Part.of(OUTBOX, 2), Part.of(PAYMENT_AND_TRAIL, 4)])
    assert statement == (
        "WITH _part0 AS (INSERT INTO outbox (event_id, subject) VALUES ($1::UUID, $2::VARCHAR)), "
        "updated AS (UPDATE payments SET status=$4::VARCHAR WHERE payments.id = $3::VARCHAR), "
        "_part1 AS (INSERT INTO payment_statuses (payment_id, status) "
        "VALUES ($5::VARCHAR, $6::VARCHAR)) SELECT 1"
    )


def test_a_dollar_inside_quotes_is_text_not_a_parameter():
    part = Part.of("INSERT INTO notes (body, id) VALUES ('costs $1', $1)", 1)
    assert joined([Part.of(OUTBOX, 2), part]).endswith(
        "_part1 AS (INSERT INTO notes (body, id) VALUES ('costs $1', $3)) SELECT 1"
    )


def test_what_a_part_writes_and_whether_it_only_appends():
    assert Part.of(OUTBOX, 2).tables == {"outbox"} and Part.of(OUTBOX, 2).appends
    reservation = Part.of(RESERVATION, 2)
    # "DO UPDATE SET" names no table.
    assert reservation.tables == {"reservations"} and not reservation.appends
    trail = Part.of(PAYMENT_AND_TRAIL, 4)
    assert trail.tables == {"payments", "payment_statuses"} and not trail.appends
    assert trail.names == {"updated"}


def test_parts_that_would_not_see_each_others_rows_are_kept_apart():
    outbox, slot = Part.of(OUTBOX, 2), Part.of(SLOT, 2)
    assert not outbox.clashes(Part.of(OUTBOX, 2)), "new rows of their own: together"
    assert not outbox.clashes(slot)
    assert slot.clashes(Part.of(SLOT, 2)), "a row updated twice in one statement"
    reservation = Part.of(RESERVATION, 2)
    appended = Part.of("INSERT INTO reservations (id) VALUES ($1)", 1)
    assert reservation.clashes(appended) and appended.clashes(reservation)
    trail = Part.of(PAYMENT_AND_TRAIL, 4)
    assert trail.clashes(Part.of(PAYMENT_AND_TRAIL, 4)), "same table, and the same WITH name"


@pytest.mark.parametrize(
    "sql",
    [
        "WITH RECURSIVE t(n) AS (SELECT 1) INSERT INTO effects (id) SELECT n FROM t",
        "INSERT INTO notes (body) VALUES ($tag$costs$tag$)",
        "INSERT INTO notes (body) VALUES ($2)",
        "SELECT 1",
    ],
)
def test_what_it_cannot_split_safely_it_refuses(sql):
    with pytest.raises(Unsupported):
        Part.of(sql, 1)
