"""A message that can never be handled is dead-lettered; the ones behind it still flow."""

from __future__ import annotations

from google.protobuf import wrappers_pb2
from sqlalchemy import select

from runtime.schema import dead_letters, inbox
from tests.integration.runtime.conftest import effect_counts
from tests.integration.runtime.probe import PROBE_STREAM
from tests.integration.runtime.test_exactly_once import assert_each_effect_once, commit_events
from tests.processes import eventually


async def test_poison_messages_are_dead_lettered_and_do_not_block_the_rest(engine, js, probes):
    probe = probes()
    await probe.wait_serving()
    await js.publish(
        PROBE_STREAM.subject_for(wrappers_pb2.StringValue),
        b"\xff\xff\xff",  # a truncated varint: no StringValue decodes from it
        headers={"Nats-Msg-Id": "undecodable-1"},
    )
    await commit_events(engine, ["poison: the handler refuses it", "after-1", "after-2"])
    await js.publish(
        PROBE_STREAM.subject_for(wrappers_pb2.StringValue),
        wrappers_pb2.StringValue(value="no-event-id").SerializeToString(),
    )
    await commit_events(engine, ["after-3"])

    await assert_each_effect_once(engine, ["after-1", "after-2", "after-3"])
    async with engine.connect() as conn:
        rows = (await conn.execute(select(dead_letters.c.event_id, dead_letters.c.error))).all()
    errors = sorted(error.split(" ", 1)[0] for _, error in rows)
    assert len(rows) == 3, rows
    assert any("undecodable" in error for _, error in rows)
    assert any("PermanentFailure" in error for _, error in rows)
    assert any(event_id is None for event_id, _ in rows), errors


async def test_a_transient_failure_is_retried_until_it_succeeds(engine, js, probes):
    probe = probes()
    await probe.wait_serving()
    await commit_events(engine, ["flaky-2", "steady"])
    await assert_each_effect_once(engine, ["flaky-2", "steady"])
    async with engine.connect() as conn:
        assert (await conn.execute(select(dead_letters.c.id))).all() == []


async def test_an_event_that_keeps_failing_is_dead_lettered_after_max_deliver(engine, js, probes):
    probe = probes(NOBAT_CONSUMER_MAX_DELIVER="3")
    await probe.wait_serving()
    await commit_events(engine, ["always-fails", "after-it"])

    async def dead_lettered() -> bool:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(dead_letters.c.error))).all()
        return any("gave up after 3" in error for (error,) in rows)

    await eventually(dead_lettered, what="the failing event's dead letter")
    await assert_each_effect_once(engine, ["after-it"])
    assert "always-fails" not in await effect_counts(engine)


async def test_events_the_consumer_is_not_concerned_with_are_acked_without_a_trace(
    engine, js, probes
):
    probe = probes()
    await probe.wait_serving()
    await commit_events(engine, ["elsewhere-1", "ours-1", "elsewhere-2", "ours-2"])

    await assert_each_effect_once(engine, ["ours-1", "ours-2"])
    assert set(await effect_counts(engine)) == {"ours-1", "ours-2"}
    async with engine.connect() as conn:
        # Only the two events it handled left an inbox row; nothing was dead-lettered.
        assert len((await conn.execute(select(inbox.c.event_id))).all()) == 2
        assert (await conn.execute(select(dead_letters.c.id))).all() == []
    info = await js.consumer_info(PROBE_STREAM.name, "probe")
    assert info.num_ack_pending == 0 and info.num_pending == 0
