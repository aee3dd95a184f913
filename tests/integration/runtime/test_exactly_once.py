"""An event committed in a transaction has its effect exactly once, whatever crashes."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf import wrappers_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime import faults
from runtime.db import UnitOfWork, sessionmaker
from tests.integration.runtime.conftest import effect_counts
from tests.integration.runtime.probe import PROBE_STREAM
from tests.processes import eventually

N = 20


async def commit_events(engine: AsyncEngine, values: list[str]) -> None:
    uow = UnitOfWork(sessionmaker(engine), PROBE_STREAM)
    async with uow:
        for value in values:
            uow.emit(wrappers_pb2.StringValue(value=value))
        await uow.commit()


async def assert_each_effect_once(engine: AsyncEngine, values: list[str]) -> None:
    async def all_arrived() -> bool:
        return set(await effect_counts(engine)) >= set(values)

    await eventually(all_arrived, what="every event's effect")
    # Give a duplicate the time to show up before declaring there is none.
    await asyncio.sleep(1.0)
    counts = await effect_counts(engine)
    assert {value: counts.get(value) for value in values} == dict.fromkeys(values, 1)


def values(tag: str, n: int = N) -> list[str]:
    return [f"{tag}-{i}" for i in range(n)]


@pytest.mark.parametrize(
    "crash_at",
    [
        faults.RELAY_BEFORE_PUBLISH,
        faults.RELAY_AFTER_PUBLISH,
        faults.CONSUMER_BEFORE_COMMIT,
        faults.CONSUMER_AFTER_COMMIT,
    ],
)
async def test_a_crash_at_any_step_still_gives_exactly_one_effect(crash_at, engine, js, probes):
    expected = values(crash_at)
    await commit_events(engine, expected)

    crashing = probes(crash_at=crash_at)
    assert await crashing.wait_exit() == -9, "the probe did not reach its crash point"

    survivor = probes()
    await survivor.wait_serving()
    await assert_each_effect_once(engine, expected)


async def test_nats_killed_and_restarted_mid_stream_loses_and_doubles_nothing(
    engine, js, probes, embedded_nats
):
    probe = probes()
    await probe.wait_serving()
    before, after = values("before-restart"), values("after-restart")
    await commit_events(engine, before)
    embedded_nats.kill()
    # Written while NATS is down: they wait in the outbox.
    await commit_events(engine, after)
    await asyncio.sleep(0.5)
    embedded_nats.start()
    await assert_each_effect_once(engine, before + after)


async def test_two_relays_share_the_outbox_without_publishing_twice(engine, js, probes):
    first, second = probes(), probes()
    await first.wait_serving()
    await second.wait_serving()
    expected = values("two-relays", 200)
    for chunk in range(0, len(expected), 20):
        await commit_events(engine, expected[chunk : chunk + 20])
    await assert_each_effect_once(engine, expected)
    info = await js.stream_info("PROBE")
    assert info.state.messages == len(expected)


async def test_an_event_delivered_again_after_the_duplicate_window_has_one_effect(
    engine, js, probes
):
    probe = probes(NOBAT_DUPLICATE_WINDOW_SECONDS="1")
    await probe.wait_serving()
    headers = {"Nats-Msg-Id": "7d1f0c1e-0000-4000-8000-000000000001"}
    payload = wrappers_pb2.StringValue(value="late-duplicate").SerializeToString()
    await js.publish(
        PROBE_STREAM.subject_for(wrappers_pb2.StringValue), payload, headers=dict(headers)
    )
    await asyncio.sleep(1.5)
    second = await js.publish(
        PROBE_STREAM.subject_for(wrappers_pb2.StringValue), payload, headers=dict(headers)
    )
    assert not second.duplicate, "JetStream caught it; the test needs it to get through"
    await assert_each_effect_once(engine, ["late-duplicate"])


async def test_a_rolled_back_transaction_publishes_nothing(engine, js, probes):
    uow = UnitOfWork(sessionmaker(engine), PROBE_STREAM)
    with pytest.raises(RuntimeError):
        async with uow:
            uow.emit(wrappers_pb2.StringValue(value="rolled-back"))
            raise RuntimeError("the use case failed after emitting")
    async with uow:
        uow.emit(wrappers_pb2.StringValue(value="abandoned"))
        # No commit: leaving the unit without one is a rollback.
    await commit_events(engine, ["committed"])
    probe = probes()
    await probe.wait_serving()
    await assert_each_effect_once(engine, ["committed"])
    assert set(await effect_counts(engine)) == {"committed"}
    assert (await js.stream_info("PROBE")).state.messages == 1
