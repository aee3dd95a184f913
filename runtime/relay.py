"""The outbox relay: publishes committed events to JetStream, at least once.

It claims unpublished rows with FOR UPDATE SKIP LOCKED, so any number of relays (one
per replica) share the outbox without publishing a row twice at the same time. A row
is marked published only after JetStream's PubAck: a crash in between republishes it,
and the `Nats-Msg-Id` header plus every consumer's inbox make that harmless. It never
remembers "the last id seen": identity values commit out of order, and a row committed
late behind a higher id would be skipped forever.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.js.client import JetStreamContext
from sqlalchemy import BigInteger, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime import faults, metrics, sql
from runtime.listener import Listener
from runtime.schema import OUTBOX_CHANNEL, outbox

log = logging.getLogger(__name__)


# Built once: the relay runs them for every batch.
_UNPUBLISHED = (
    select(outbox.c.id, outbox.c.subject, outbox.c.payload, outbox.c.headers)
    .where(outbox.c.published_at.is_(None))
    .order_by(outbox.c.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
# One array parameter, so a batch of any size is the same prepared statement.
_PUBLISHED = (
    update(outbox)
    .where(outbox.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
    .values(published_at=func.now())
)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        *,
        listener: Listener,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        publish_timeout: float = 5.0,
    ) -> None:
        self._engine = engine
        self._js = js
        self._listener = listener
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._publish_timeout = publish_timeout
        self._lag_measured_at = 0.0

    async def run(self) -> None:
        """Publish until cancelled. NOTIFY wakes it at once (on the process's listener);
        polling covers a lost listener."""
        failures = 0
        # The outbox trigger NOTIFYs once per statement, with no key.
        async with self._listener.watch(OUTBOX_CHANNEL, "", poll=self._poll_interval) as news:
            while True:
                try:
                    published = await self.publish_batch()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    log.warning("outbox relay failed to publish: %s", exc)
                    await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                    continue
                if published < self._batch_size:
                    await self._measure_lag()
                    await news()

    async def _measure_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_measured_at < 1.0:
            return
        self._lag_measured_at = now
        async with self._engine.connect() as conn:
            oldest = await conn.scalar(
                select(func.extract("epoch", func.now() - func.min(outbox.c.created_at))).where(
                    outbox.c.published_at.is_(None)
                )
            )
        metrics.outbox_lag.set(float(oldest or 0))

    async def publish_batch(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        async with self._engine.begin() as conn:
            rows = await sql.fetch(conn, _UNPUBLISHED, {"batch": self._batch_size})
            if not rows:
                return 0
            faults.crash_point(faults.RELAY_BEFORE_PUBLISH)
            acks = await asyncio.gather(
                *(self._publish(row["subject"], row["payload"], row["headers"]) for row in rows),
                return_exceptions=True,
            )
            faults.crash_point(faults.RELAY_AFTER_PUBLISH)
            published = [
                row["id"]
                for row, ack in zip(rows, acks, strict=True)
                if not isinstance(ack, Exception)
            ]
            if published:
                await sql.execute(conn, _PUBLISHED, {"ids": published})
        metrics.events_published.inc(len(published))
        failure = next((ack for ack in acks if isinstance(ack, Exception)), None)
        if failure is not None:
            raise failure
        return len(published)

    async def _publish(self, subject: str, payload: bytes, headers: dict) -> None:
        # A copy: the client adds its own headers to the dict it is given.
        await self._js.publish(
            subject, payload, headers=dict(headers), timeout=self._publish_timeout
        )
