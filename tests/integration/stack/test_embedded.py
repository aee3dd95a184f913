"""Real embedded servers: PostgreSQL over TCP, NATS JetStream, and cleanup when the owner dies.

The servers here are our own rather than the session ones from tests/conftest.py: these
tests stop, kill and restart them.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NamedTuple

import asyncpg
import nats
import pytest
from nats.aio.client import Client
from nats.js.api import StorageType

import stack
from stack import EmbeddedNats, EmbeddedPostgres, PortInUseError, StackError


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Not pytest's tmp_path: as root that sits under a 0700 directory the unprivileged
    # postgres user cannot enter.
    path = Path(tempfile.mkdtemp(prefix="nobat-stack-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def pg(scratch: Path) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(scratch / "pg", fast=True) as server:
        yield server


@pytest.fixture
def own_nats(scratch: Path) -> Iterator[EmbeddedNats]:
    with EmbeddedNats(scratch / f"nats-{uuid.uuid4().hex[:8]}") as server:
        yield server


async def _ignore_error(exc: Exception) -> None:
    # Expected around server restarts; the default callback would print tracebacks.
    pass


async def _connect(url: str) -> Client:
    return await nats.connect(
        url, error_cb=_ignore_error, max_reconnect_attempts=1, reconnect_time_wait=0.1
    )


@pytest.fixture
async def nc(own_nats: EmbeddedNats) -> AsyncIterator[Client]:
    client = await _connect(own_nats.url)
    yield client
    await client.close()


async def test_postgres_database_from_template_over_tcp(pg: EmbeddedPostgres) -> None:
    pg.create_database("app_template")
    conn = await asyncpg.connect(pg.dsn("app_template"))
    try:
        await conn.execute("CREATE TABLE clinic (name text); INSERT INTO clinic VALUES ('north')")
    finally:
        await conn.close()

    pg.create_database("app_copy", template="app_template")
    conn = await asyncpg.connect(pg.dsn("app_copy"))
    try:
        assert await conn.fetchval("SELECT name FROM clinic") == "north"
        assert await conn.fetchval("SELECT host(inet_server_addr())") == "127.0.0.1"
        assert await conn.fetchval("SHOW max_connections") == "200"
        pg.drop_database("app_copy")  # WITH (FORCE) ends our open connection
    finally:
        conn.terminate()

    conn = await asyncpg.connect(pg.dsn())
    try:
        names = await conn.fetch("SELECT datname FROM pg_database")
    finally:
        await conn.close()
    assert {"app_template"} <= {r["datname"] for r in names}
    assert "app_copy" not in {r["datname"] for r in names}
    assert pg.url("app") == f"postgresql+asyncpg://postgres@127.0.0.1:{pg.port}/app"


async def test_postgres_reuses_its_data_dir(pg: EmbeddedPostgres) -> None:
    pg.create_database("kept")
    pg.stop()
    pg.stop()
    pg.start()
    conn = await asyncpg.connect(pg.dsn("kept"))
    await conn.close()


async def test_nats_jetstream_publish_and_fetch(nc: Client) -> None:
    js = nc.jetstream()
    await js.add_stream(name="BOOKINGS", subjects=["bookings.>"], storage=StorageType.FILE)
    ack = await js.publish("bookings.created", b"b-1", headers={"Nats-Msg-Id": "b-1"})
    assert ack.seq == 1
    assert (await js.publish("bookings.created", b"b-1", headers={"Nats-Msg-Id": "b-1"})).duplicate

    sub = await js.pull_subscribe("bookings.created", durable="worker", stream="BOOKINGS")
    [msg] = await sub.fetch(1, timeout=2)
    await msg.ack()
    assert msg.data == b"b-1"
    await sub.unsubscribe()  # before drain, or drain can stall
    await nc.drain()


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "kill"])
async def test_nats_message_survives_restart(own_nats: EmbeddedNats, crash: bool) -> None:
    nc = await _connect(own_nats.url)
    js = nc.jetstream()
    await js.add_stream(name="PAYMENTS", subjects=["payments.>"], storage=StorageType.FILE)
    await js.publish("payments.settled", b"p-1")
    await nc.close()

    if crash:
        own_nats.kill()
        own_nats.start()
    else:
        own_nats.restart()

    nc = await _connect(own_nats.url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("payments.settled", durable="w", stream="PAYMENTS")
        [msg] = await sub.fetch(1, timeout=2)
        assert msg.data == b"p-1"
        await sub.unsubscribe()
    finally:
        await nc.drain()


def test_servers_start_only_from_the_main_thread(scratch: Path) -> None:
    errors: list[Exception] = []

    def start() -> None:
        try:
            EmbeddedNats(scratch / "nats-thread").start()
        except StackError as exc:
            errors.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    assert "main thread" in str(errors[0])


def test_taken_port_is_reported(scratch: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=str(port)):
            EmbeddedNats(scratch / "nats-taken", port=port).start()
        with pytest.raises(PortInUseError, match=str(port)):
            EmbeddedPostgres(scratch / "pg-taken", port=port).start()


OWNER = """
import json, sys, time
from pathlib import Path
from stack import EmbeddedNats, EmbeddedPostgres, SandboxGateway, _process

base = Path(sys.argv[1])
# What this machine would use without setpriv, or (watchdog) what macOS uses.
assert _process.parent_death_means() == sys.argv[2] or sys.argv[2] == "watchdog"
_process.parent_death_means = lambda: sys.argv[2]
pg = EmbeddedPostgres(base / "pg", fast=True)
pg.start()
bus = EmbeddedNats(base / "nats")
bus.start()
gateway = SandboxGateway(
    base / "sandbox", api_key="sk_test_owner", webhook_secret="whsec_owner",
    webhook_url="http://127.0.0.1:9/webhooks",
)
gateway.start()
print(json.dumps([pg.pid, bus.pid, gateway.pid]), flush=True)
time.sleep(60)
"""


class _Proc(NamedTuple):
    name: str
    state: str
    ppid: int
    started: str  # clock ticks since boot; tells a recycled pid apart


def _proc(pid: int) -> _Proc | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return _Proc(name, fields[0], int(fields[1]), fields[19])


def _descendants(root: int) -> dict[int, _Proc]:
    procs = {int(e.name): _proc(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit()}
    found: dict[int, _Proc] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, proc in procs.items():
            if proc is not None and proc.ppid == parent:
                found[pid] = proc
                frontier.append(pid)
    return found


def _alive(pid: int, seen: _Proc) -> bool:
    now = _proc(pid)
    # A zombie is dead, only not reaped yet (PID 1 in a container may never reap it).
    return now is not None and now.started == seen.started and now.state != "Z"


def path_without_setpriv(folder: Path) -> str:
    """A PATH with every command of ours but util-linux `setpriv`, as on macOS or in a
    minimal image."""
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for command in Path(directory).glob("*") if Path(directory).is_dir() else ():
            link = folder / command.name
            if command.name != "setpriv" and not link.exists() and os.access(command, os.X_OK):
                link.symlink_to(command)
    return str(folder)


@pytest.mark.parametrize(
    ("how", "means"),
    [
        (signal.SIGKILL, "setpriv"),
        (signal.SIGINT, "setpriv"),
        (signal.SIGKILL, "prctl"),
        (signal.SIGKILL, "watchdog"),
    ],
    ids=["sigkill", "ctrl-c", "sigkill-without-setpriv", "sigkill-watchdog"],
)
def test_servers_do_not_outlive_their_owner(scratch: Path, how: signal.Signals, means: str) -> None:
    base = scratch / f"owner-{how.name}-{means}"
    base.mkdir()
    paths = [str(Path(stack.__file__).parents[1]), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    if means != "setpriv":
        env["PATH"] = path_without_setpriv(base / "bin")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(base), means],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own group, so "Ctrl-C" reaches only it
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line, f"owner failed to start servers: {owner.communicate(timeout=10)[1]}"
        pg_pid, nats_pid, sandbox_pid = json.loads(line)
        servers = _descendants(owner.pid)
        assert {pg_pid, nats_pid, sandbox_pid} <= servers.keys()
        assert {proc.name for pid, proc in servers.items() if pid != sandbox_pid} == {
            "postgres",
            "nats-server",
        }
        assert len(servers) > 2  # the postmaster's own children are tracked too

        os.killpg(owner.pid, how)
        owner.wait(10)
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.communicate()

    deadline = time.monotonic() + 5
    while left := [pid for pid, proc in servers.items() if _alive(pid, proc)]:
        assert time.monotonic() < deadline, f"still running after the owner died: {left}"
        time.sleep(0.02)
    leftovers = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(base) not in leftovers
