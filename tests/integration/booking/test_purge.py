"""Booking's housekeeping against a real PostgreSQL: what is past its use goes, in
batches, counted by table; nothing a payment, a retry or a slot still needs is touched."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from runtime.retention import Retention
from tests.integration.booking.conftest import Repositories, Transaction
from tests.integration.conftest import store
from tests.integration.purging import purged_so_far, run_purge_job, runtime_rows, runtime_rows_left
from tests.unit.booking.builders import NOW, a_checkout, a_doctor, a_slot, confirm

DAY = timedelta(days=1)
KEPT = Retention()


async def test_keys_inbox_and_published_outbox_rows_go_only_after_their_windows(engine):
    await runtime_rows(engine, "old", NOW - KEPT.messages - DAY)
    await runtime_rows(engine, "week-old", NOW - KEPT.idempotency_keys - DAY)
    await runtime_rows(engine, "recent", NOW - DAY)
    await runtime_rows(engine, "never-published", NOW - KEPT.messages - DAY, published=False)
    before = purged_so_far("inbox")

    await run_purge_job(Repositories, engine, at=NOW)

    assert await runtime_rows_left(engine) == {
        # A client retrying within the key's window still gets its first answer.
        "idempotency_keys": {"recent"},
        # A redelivery of an event the stream may still hold is still recognised.
        "inbox": {"week-old", "recent"},
        # The relay still has to publish what never was.
        "outbox": {"week-old", "recent", "never-published"},
    }
    assert purged_so_far("inbox") - before == 2


async def test_an_expired_checkout_goes_after_the_window_and_a_paid_or_open_one_never(
    engine, transaction: Transaction
):
    long_ago = NOW - KEPT.expired - DAY
    doctor = a_doctor()
    slots = [a_slot(f"slot-{n}", starts_in=(n + 2) * DAY) for n in range(4)]
    expired = a_checkout(slots[0], checkout_id="expired-long-ago", now=long_ago)
    expired.lapse(slot=slots[0], now=long_ago)
    lately = a_checkout(slots[1], checkout_id="expired-lately", now=NOW - DAY)
    lately.lapse(slot=slots[1], now=NOW - DAY)
    paid = a_checkout(slots[2], checkout_id="paid-long-ago", now=long_ago)
    reservation = confirm(paid, slots[2], at=long_ago)
    assert reservation is not None
    # Lapsed long ago but never swept: still open, its slot still names it.
    unswept = a_checkout(slots[3], checkout_id="unswept", now=long_ago)
    await store(transaction, doctor, *slots, expired, lately, paid, unswept, reservation)

    await run_purge_job(Repositories, engine, at=NOW)

    async with engine.connect() as conn:
        left = {row[0] for row in await conn.execute(text("SELECT id FROM checkouts"))}
    assert left == {"expired-lately", "paid-long-ago", "unswept"}


async def test_a_backlog_goes_in_batches_a_run_at_most_so_many(engine):
    for n in range(7):
        await runtime_rows(engine, f"old-{n}", NOW - KEPT.messages - DAY)
    small = Retention(batch=2, max_batches=3)

    first = await run_purge_job(Repositories, engine, at=NOW, retention=small)
    after_first = await runtime_rows_left(engine)
    await run_purge_job(Repositories, engine, at=NOW, retention=small)

    # Three tables, at most 3 batches of 2 each in one run; the rest in the next.
    assert first == 3 * 6
    assert all(len(names) == 1 for names in after_first.values())
    assert await runtime_rows_left(engine) == {
        "idempotency_keys": set(),
        "inbox": set(),
        "outbox": set(),
    }
