"""The outbox relay: publishes committed events to JetStream, at least once.

Events reach it two ways. A unit of work of this process hands over what it has just
committed (`hand_over`): published at once, then marked published with the others that
JetStream acknowledged in the same `mark_after` seconds, in one statement; this is the
way nearly every event goes. (Marked one commit at a time, a steady trickle of flows
paid a write transaction per commit for the mark alone; the delay is far inside the
grace.) A poll takes what is left, rows more than `grace` seconds old that nobody marked
(the process died between commit and publish, NATS was down, or a unit outside the
service wrote them), claimed with FOR UPDATE SKIP LOCKED so any number of relays (one
per replica) share the outbox without publishing a row twice at the same time. The grace
keeps the poll off rows the fast way is still publishing; should both publish one, the
`Nats-Msg-Id` header and every consumer's inbox make it harmless, as they do a crash
between a publish and its mark. A row is marked published only after JetStream's PubAck.
The poll never remembers "the last id seen": identity values commit out of order, and a
row committed late behind a higher id would be skipped forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from nats.js.client import JetStreamContext
from sqlalchemy import BigInteger, Interval, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime import faults, metrics, sql, tracing
from runtime.schema import outbox

log = logging.getLogger(__name__)

# How long the marks of what JetStream acknowledged gather before one statement writes them.
MARK_AFTER = 0.25


# Built once: the relay runs them for every batch.
_UNPUBLISHED = (
    select(outbox.c.id, outbox.c.subject, outbox.c.payload, outbox.c.headers)
    .where(
        outbox.c.published_at.is_(None),
        outbox.c.created_at < func.now() - bindparam("grace", type_=Interval),
    )
    .order_by(outbox.c.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
# The lag gauge's age, in seconds, of the oldest row not yet published.
_OLDEST_UNPUBLISHED = select(
    func.extract("epoch", func.now() - func.min(outbox.c.created_at))
).where(outbox.c.published_at.is_(None))
# One array parameter, so a batch of any size is the same prepared statement.
_PUBLISHED = (
    update(outbox)
    .where(outbox.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
    .values(published_at=func.now())
)
# The fast way's mark: by the events' own ids, which the unit had in hand.
_HANDED_OVER_PUBLISHED = (
    update(outbox)
    .where(
        outbox.c.event_id == any_(bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True)))),
        outbox.c.published_at.is_(None),
    )
    .values(published_at=func.now())
)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        grace: float = 2.0,
        publish_timeout: float = 5.0,
        mark_after: float = MARK_AFTER,
    ) -> None:
        self._engine = engine
        self._js = js
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._grace = timedelta(seconds=grace)
        self._publish_timeout = publish_timeout
        self._mark_after = mark_after
        self._handed_over: list[dict] = []
        self._arrived = asyncio.Event()
        # Handed-over events JetStream acknowledged, not marked published yet.
        self._acknowledged: list = []
        self._to_mark = asyncio.Event()

    def hand_over(self, events: list[dict]) -> None:
        """Outbox rows (runtime.events.envelope) a unit of this process has just
        committed: published now rather than at the next poll."""
        self._handed_over += events
        self._arrived.set()

    async def run(self) -> None:
        """Publish until cancelled: what is handed over at once, what is left by polling."""
        fast = [
            asyncio.create_task(self._publish_handed_over(), name="outbox-handed-over"),
            asyncio.create_task(self._mark_acknowledged(), name="outbox-marks"),
        ]
        failures = 0
        try:
            while True:
                try:
                    # One statement says whether any row has waited past the grace (and
                    # sets the lag gauge, through an outage too): while the fast way keeps
                    # up, as it nearly always does, no transaction is opened to find nothing.
                    due = await self._oldest_unpublished() > self._grace.total_seconds()
                    published = await self.publish_batch() if due else 0
                    failures = 0
                except Exception as exc:
                    failures += 1
                    log.warning("outbox relay failed to publish: %s", exc)
                    await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                    continue
                if published < self._batch_size:
                    await asyncio.sleep(self._poll_interval)
        finally:
            for task in fast:
                task.cancel()
            await asyncio.gather(*fast, return_exceptions=True)
            # What is left unmarked the next poll, here or in another replica, would
            # publish again: harmless, but not needed if the database still answers.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._mark(), timeout=self._publish_timeout)

    async def _publish_handed_over(self) -> None:
        """One batch at a time, of all that was handed over meanwhile; what fails stays
        unmarked for the poll."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            batch, self._handed_over = self._handed_over, []
            try:
                published, failures = await self._publish_all(batch, "event_id")
                if published:
                    self._acknowledged += published
                    self._to_mark.set()
                metrics.events_published.inc(len(published))
                if failures:
                    log.warning("%d events not published yet; the poll retries them", len(failures))
            except Exception as exc:
                log.warning("publishing committed events failed; the poll retries: %s", exc)

    async def _mark_acknowledged(self) -> None:
        """Marks what JetStream acknowledged, at most one statement every `mark_after`
        seconds; what fails to be marked is published again by the poll."""
        while True:
            await self._to_mark.wait()
            await asyncio.sleep(self._mark_after)
            try:
                await self._mark()
            except Exception as exc:
                log.warning("marking published events failed; the poll sends them again: %s", exc)

    async def _mark(self) -> None:
        self._to_mark.clear()
        event_ids, self._acknowledged = self._acknowledged, []
        if not event_ids:
            return
        try:
            await sql.execute_alone(self._engine, _HANDED_OVER_PUBLISHED, {"event_ids": event_ids})
        except asyncio.CancelledError:
            # Stopped mid-statement: the marks go back for the one made on the way out.
            self._acknowledged[:0] = event_ids
            raise

    async def _oldest_unpublished(self) -> float:
        """Seconds since the oldest row still unpublished was written, 0 for none."""
        (row,) = await sql.fetch_alone(self._engine, _OLDEST_UNPUBLISHED, {})
        age = float(row[0] or 0)
        metrics.outbox_lag.set(age)
        return age

    async def publish_batch(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        async with self._engine.begin() as conn:
            rows = await sql.fetch(
                conn, _UNPUBLISHED, {"batch": self._batch_size, "grace": self._grace}
            )
            if not rows:
                return 0
            published, failures = await self._publish_all(rows, "id")
            if published:
                await sql.execute(conn, _PUBLISHED, {"ids": published})
        metrics.events_published.inc(len(published))
        if failures:
            raise failures[0]
        return len(published)

    async def _publish_all(self, rows, key: str) -> tuple[list, list[BaseException]]:
        """Publishes every row (an outbox row, or an envelope handed over) at once; the
        `key` of each one JetStream acknowledged, and the failures of the others."""
        faults.crash_point(faults.RELAY_BEFORE_PUBLISH)
        acks = await asyncio.gather(
            *(self._publish(row["subject"], row["payload"], row["headers"]) for row in rows),
            return_exceptions=True,
        )
        faults.crash_point(faults.RELAY_AFTER_PUBLISH)
        published = [
            row[key] for row, ack in zip(rows, acks, strict=True) if not isinstance(ack, Exception)
        ]
        return published, [ack for ack in acks if isinstance(ack, Exception)]

    async def _publish(self, subject: str, payload: bytes, headers: dict) -> None:
        if tracing.enabled:
            # Already a copy, with this span's context in place of the commit's.
            with tracing.publishing(subject, headers) as sent:
                await self._js.publish(
                    subject, payload, headers=sent, timeout=self._publish_timeout
                )
            return
        # A copy: the client adds its own headers to the dict it is given.
        await self._js.publish(
            subject, payload, headers=dict(headers), timeout=self._publish_timeout
        )
