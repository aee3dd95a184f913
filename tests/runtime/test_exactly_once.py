"""An event committed in a transaction has its effect exactly once, whatever crashes."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf import wrappers_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime import faults
from runtime.db import UnitOfWork, sessionmaker
from tests.runtime.conftest import effect_counts, eventually

N = 20


async def commit_events(engine: AsyncEngine, values: list[str]) -> None:
    uow = UnitOfWork(sessionmaker(engine))
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
