from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.js.errors import NotFoundError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from runtime.auth import TokenKeys
from runtime.schema import create_runtime_tables
from stack.databases import Databases
from stack.keys import generate_token_keys
from stack.local import service_environment
from stack.ports import free_port
from tests.conftest import fresh_database
from tests.runtime import probe

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "probe_template"


@pytest.fixture(scope="session")
def token_keys() -> TokenKeys:
    return generate_token_keys()


@pytest.fixture(scope="session")
async def probe_template(postgres: Databases) -> str:
    await postgres.drop(TEMPLATE)
    url = await postgres.create(TEMPLATE)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(create_runtime_tables)
        await conn.run_sync(probe.metadata.create_all)
    await engine.dispose()
    return TEMPLATE


@pytest.fixture
async def probe_db(postgres: Databases, probe_template: str) -> AsyncIterator[str]:
    async for url in fresh_database(postgres, probe_template):
        yield url


@pytest.fixture
async def engine(probe_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(probe_db)
    yield engine
    await engine.dispose()


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


class ProbeProcess:
    """The probe service as a real OS process that tests can SIGKILL."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = int(env["NOBAT_GRPC_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, crash_at: str | None = None, **overrides: str) -> ProbeProcess:
        env = {**self.env, **overrides}
        if crash_at:
            env["NOBAT_CRASH_AT"] = crash_at
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.runtime.probe"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    async def wait_serving(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, self.log()
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"probe not serving after {timeout}s\n{self.log()}")

    async def wait_exit(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"probe still running\n{self.log()}"
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def probe_env(probe_db: str, nats_url: str, token_keys: TokenKeys) -> dict[str, str]:
    return service_environment(probe_db, nats_url, token_keys) | {
        "NOBAT_GRPC_PORT": str(free_port()),
        "NOBAT_METRICS_PORT": str(free_port()),
        "NOBAT_CONSUMER_ACK_WAIT_SECONDS": "2",
        "NOBAT_SHUTDOWN_GRACE_SECONDS": "5",
    }


@pytest.fixture
def probes(probe_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., ProbeProcess]]:
    """Start probe processes; all are killed when the test ends, pass or fail."""
    started: list[ProbeProcess] = []

    def start(crash_at: str | None = None, **overrides: str) -> ProbeProcess:
        env = dict(probe_env)
        if started:
            env["NOBAT_GRPC_PORT"] = str(free_port())
            env["NOBAT_METRICS_PORT"] = str(free_port())
        process = ProbeProcess(env, tmp_path / f"probe-{len(started)}.log")
        started.append(process)
        return process.start(crash_at, **overrides)

    yield start
    for process in started:
        process.kill()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.05)


async def effect_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(probe.effects.c.value, func.count()).group_by(probe.effects.c.value)
        )
        return {value: count for value, count in rows}
