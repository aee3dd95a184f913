"""A message that can never be handled is dead-lettered; the ones behind it still flow."""

from __future__ import annotations

from google.protobuf import wrappers_pb2
from sqlalchemy import select

from runtime.schema import dead_letters
from tests.runtime.test_exactly_once import assert_each_effect_once, commit_events


async def test_poison_messages_are_dead_lettered_and_do_not_block_the_rest(engine, js, probes):
    probe = probes()
    await probe.wait_serving()
    await js.publish(
        "google.protobuf.StringValue",
        b"\xff\xff\xff",  # a truncated varint: no StringValue decodes from it
        headers={"Nats-Msg-Id": "undecodable-1"},
    )
    await commit_events(engine, ["poison: the handler refuses it", "after-1", "after-2"])
    await js.publish(
        "google.protobuf.StringValue",
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
