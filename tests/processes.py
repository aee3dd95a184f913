"""Helpers for tests that run services as real processes and wait on what they do."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]


class ServiceUnderTest:
    """A service as a real OS process (`python -m <module> serve`) that tests can SIGKILL."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path) -> None:
        self.module = module
        # The probe takes no command; the services take `serve`.
        self.args: list[str] = [] if module.startswith("tests.") else ["serve"]
        self.env = env
        self.log_path = log_path
        self.port = int(env["NOBAT_GRPC_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, crash_at: str | None = None, **overrides: str) -> ServiceUnderTest:
        env = {**self.env, **overrides}
        if crash_at:
            env["NOBAT_CRASH_AT"] = crash_at
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
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
        raise AssertionError(f"{self.module} not serving after {timeout}s\n{self.log()}")

    async def wait_exit(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"{self.module} still running\n{self.log()}"
            await asyncio.sleep(0.05)
        return self.proc.returncode

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[ServiceUnderTest]:
        """The started process once it is SERVING; stopped when the block ends, pass or
        fail: SIGTERM, then SIGKILL if it has not exited within 10 s."""
        try:
            await self.wait_serving()
            yield self
        finally:
            self.terminate()
            try:
                await self.wait_exit(10)
            finally:
                self.kill()

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.05)
