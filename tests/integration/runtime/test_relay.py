"""The relay marks what JetStream acknowledged, and only that: every event, and the events
of many commits in one statement rather than one statement per commit."""

from __future__ import annotations

import asyncio

from google.protobuf import wrappers_pb2
from nats.js.client import JetStreamContext
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.db import UnitOfWork, sessionmaker
from runtime.messaging import ensure_stream
from runtime.relay import OutboxRelay
from runtime.schema import outbox
from tests.integration.runtime.probe import PROBE_STREAM
from tests.processes import eventually

COMMITS = 5


async def test_the_commits_acknowledged_together_are_marked_in_one_statement(engine, js):
    # No timer and no poll while the test runs: what marks the rows is the relay's stop.
    relay = OutboxRelay(engine, js, grace=3600, mark_after=3600)
    running = await _commit_one_by_one(engine, js, relay)
    assert await _marks(engine) == (COMMITS, 0), "marked before the relay stopped"

    await _stop(running)
    assert await _marks(engine) == (0, COMMITS)
    async with engine.connect() as conn:
        instants = await conn.scalar(select(func.count(outbox.c.published_at.distinct())))
    # now() is the statement's transaction's: one instant, one statement.
    assert instants == 1


async def test_a_running_relay_marks_every_event_it_published(engine, js):
    relay = OutboxRelay(engine, js, grace=3600, mark_after=0.05)
    running = await _commit_one_by_one(engine, js, relay)

    async def all_marked() -> bool:
        return await _marks(engine) == (0, COMMITS)

    await eventually(all_marked, what="every published row marked")
    await _stop(running)


async def test_what_jetstream_did_not_acknowledge_is_not_marked(engine, js, caplog):
    # No stream: every publish is refused, and the rows must stay for the poll. What marks
    # is the relay's stop, after the refusal: no timer races the test's end.
    relay = OutboxRelay(engine, js, grace=3600, mark_after=3600, publish_timeout=1.0)
    running = asyncio.create_task(relay.run())
    uow = UnitOfWork(sessionmaker(engine), PROBE_STREAM)
    uow.hand_over = relay.hand_over
    async with uow:
        for i in range(COMMITS):
            uow.emit(wrappers_pb2.StringValue(value=f"event-{i}"))
        await uow.commit()

    async def refused() -> bool:
        return "not published yet" in caplog.text

    await eventually(refused, what="the relay's publishes refused")
    await _stop(running)
    assert await _marks(engine) == (COMMITS, 0)


async def _commit_one_by_one(
    engine: AsyncEngine, js: JetStreamContext, relay: OutboxRelay
) -> asyncio.Task:
    """COMMITS units, each committed once JetStream holds the one before: each is a batch
    of its own for the relay."""
    await ensure_stream(js, PROBE_STREAM, duplicate_window=60)
    running = asyncio.create_task(relay.run())
    for i in range(COMMITS):
        uow = UnitOfWork(sessionmaker(engine), PROBE_STREAM)
        uow.hand_over = relay.hand_over
        async with uow:
            uow.emit(wrappers_pb2.StringValue(value=f"event-{i}"))
            await uow.commit()

        async def arrived(count: int = i + 1) -> bool:
            return (await js.stream_info(PROBE_STREAM.name)).state.messages == count

        await eventually(arrived, what=f"event {i} in JetStream")
    return running


async def _stop(running: asyncio.Task) -> None:
    running.cancel()
    (ended,) = await asyncio.gather(running, return_exceptions=True)
    assert isinstance(ended, asyncio.CancelledError), ended


async def _marks(engine: AsyncEngine) -> tuple[int, int]:
    """(rows not marked published, rows marked)."""
    async with engine.connect() as conn:
        unmarked = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
        marked = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_not(None))
        )
    return unmarked or 0, marked or 0
