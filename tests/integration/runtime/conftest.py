from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from runtime.schema import create_runtime_tables
from stack.databases import Databases
from stack.identity import Identities
from stack.local import service_environment
from stack.ports import free_port
from tests.integration.runtime import probe
from tests.processes import ServiceUnderTest

TEMPLATE = "probe_template"


@pytest.fixture(scope="session")
def identities(tmp_path_factory: pytest.TempPathFactory) -> Identities:
    """The identity provider and the services whose tokens the probe believes."""
    return Identities(tmp_path_factory.mktemp("identity"), ("probe", "booking", "consultation"))


@pytest.fixture(scope="session")
async def template(postgres: Databases) -> str:
    """The runtime's tables and the probe's, for tests/integration/conftest.py's `database`."""
    await postgres.drop(TEMPLATE)
    url = await postgres.create(TEMPLATE)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(create_runtime_tables)
        await conn.run_sync(probe.metadata.create_all)
    await engine.dispose()
    return TEMPLATE


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[nats.js.JetStreamContext]:
    """A JetStream client; the probe stream is deleted first so every test starts empty."""

    async def quiet(exc: Exception) -> None:
        pass

    nc = await nats.connect(
        nats_url, error_cb=quiet, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(probe.PROBE_STREAM.name)
    yield js
    await nc.close()


@pytest.fixture
def probe_env(database: str, nats_url: str, identities: Identities) -> dict[str, str]:
    return service_environment(database, nats_url, identities.env("probe")) | {
        "NOBAT_GRPC_PORT": str(free_port()),
        "NOBAT_METRICS_PORT": str(free_port()),
        "NOBAT_CONSUMER_ACK_WAIT_SECONDS": "2",
        "NOBAT_SHUTDOWN_GRACE_SECONDS": "5",
    }


@pytest.fixture
def probes(probe_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., ServiceUnderTest]]:
    """Start probe processes; all are killed when the test ends, pass or fail."""
    started: list[ServiceUnderTest] = []

    def start(crash_at: str | None = None, **overrides: str) -> ServiceUnderTest:
        env = dict(probe_env)
        if started:
            env["NOBAT_GRPC_PORT"] = str(free_port())
            env["NOBAT_METRICS_PORT"] = str(free_port())
        process = ServiceUnderTest(
            "tests.integration.runtime.probe", env, tmp_path / f"probe-{len(started)}.log"
        )
        started.append(process)
        return process.start(crash_at, **overrides)

    yield start
    for process in started:
        process.kill()


async def effect_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(probe.effects.c.value, func.count()).group_by(probe.effects.c.value)
        )
        return {value: count for value, count in rows}
