"""Housekeeping: rows past their use are deleted, a bounded batch at a time.

Every service keeps rows whose only job is to make a repeat harmless (idempotency keys,
the inbox, webhook event ids) or to carry an event to JetStream (the outbox), and rows of
purchases that never happened (expired checkouts, intakes nobody bought). Each stays
exactly as long as something may still ask for it, and no longer:

- an idempotency key, `Retention.idempotency_keys` (at least 24 h, DESIGN.md "API
  conventions": a client that lost an answer retries within a day; 7 days by default);
- an inbox row, until no copy of its event can be delivered again: JetStream keeps a
  message `STREAM_MAX_AGE` after it was published (the row is written after that), and a
  copy published again within the duplicate window is the same message;
- a published outbox row, as long as the stream keeps its message (the relay reads only
  unpublished rows, which are never purged);
- a webhook event id (payment), as long as an idempotency key: a gateway redelivers for
  days, and one redelivered later acts again harmlessly (settle reads the truth);
- an expired checkout or an intake nobody bought, `Retention.expired` (30 days): a
  payment confirmed after its checkout lapsed still finds it and is answered (a record or
  a refund); one later still is refunded as an unknown checkout, so nothing paid is lost.

Nothing anyone paid for, and nothing `nobat check` reads (payments, ledger, payouts,
records, statuses, audit), is ever purged here.

A batch is `DELETE … WHERE key = ANY(ARRAY(SELECT key … LIMIT n))` in a transaction of its
own: short locks, and a run that stops after `max_batches`, so a backlog of a year shrinks
over a few runs without holding the job up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import TextClause, text

from runtime.retention import Retention

rows_purged = Counter(
    "nobat_rows_purged_total", "Rows deleted by housekeeping, past their use, by table.", ["table"]
)


@dataclass(frozen=True)
class Purge:
    """The rows of `table` past their use: `past` is an SQL condition on the table
    (aliased `t`) with `:cutoff`, the instant before which its rows are done with.
    `key` picks rows out (`ctid` where the table has no single-column key)."""

    table: str
    past: str
    # Which of Retention's windows applies.
    keep: str
    key: str = "id"
    # The stamp is the database's now() (a column default), not the service's clock.
    stamped_by_database: bool = False

    def statement(self) -> TextClause:
        # A test's or a stack's clock may run ahead of the database's (runtime.instants,
        # NOBAT_CLOCK_SHIFT_SECONDS): a row the database stamped a moment ago must not
        # look old to it, so its cutoff is also bounded by the database's own now().
        cutoff = (
            "least(CAST(:cutoff AS timestamptz), now() - CAST(:keep AS interval))"
            if self.stamped_by_database
            else "CAST(:cutoff AS timestamptz)"
        )
        past = self.past.replace(":cutoff", cutoff)
        # Checked again on the row being deleted, as well as in the choosing.
        return text(
            f"DELETE FROM {self.table} t WHERE {past} AND t.{self.key} = ANY(ARRAY("
            f"SELECT t.{self.key} FROM {self.table} t WHERE {past} LIMIT :batch))"
        )


# What every service database has (runtime.schema).
IDEMPOTENCY_KEYS = Purge(
    "idempotency_keys",
    "t.created_at < :cutoff",
    "idempotency_keys",
    key="ctid",
    stamped_by_database=True,
)
INBOX = Purge("inbox", "t.received_at < :cutoff", "messages", key="ctid", stamped_by_database=True)
# The outbox's ids grow with its rows, so the oldest are looked at first and a run reads
# no more than a batch however long the table (published_at has no index of its own).
OUTBOX = Purge(
    "outbox",
    "t.id IN (SELECT id FROM outbox ORDER BY id LIMIT :batch) AND t.published_at < :cutoff",
    "messages",
    stamped_by_database=True,
)
RUNTIME = (IDEMPOTENCY_KEYS, INBOX, OUTBOX)


async def purge(
    uow: Any, purges: tuple[Purge, ...], retention: Retention, now: datetime
) -> dict[str, int]:
    """Deletes what each of `purges` finds past its window at `now`, in order (a table
    whose rows others name comes after them), each batch in a transaction of its own on
    `uow` (runtime.db.UnitOfWork); returns the rows deleted by table."""
    done: dict[str, int] = {}
    for each in purges:
        keep: timedelta = getattr(retention, each.keep)
        params = {"cutoff": now - keep, "keep": keep, "batch": retention.batch}
        deleted = 0
        for _ in range(retention.max_batches):
            async with uow:
                result = await uow.session.execute(each.statement(), params)
                await uow.commit()
            deleted += result.rowcount
            if result.rowcount < retention.batch:
                break
        rows_purged.labels(each.table).inc(deleted)
        done[each.table] = deleted
    return done
