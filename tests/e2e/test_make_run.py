"""`make run` brings up every service and Ctrl-C takes every process down with it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from stack.local import ROOT, SERVICES
from stack.ports import free_port
from tests.instants import LEAP_DAY, stack_instant


def living_processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process that is not a zombie."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state, ppid = (entry / "stat").read_text().rsplit(") ", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if state != "Z":
            found[int(entry.name)] = (int(ppid), cmdline)
    return found


def children_of(pid: int) -> dict[int, str]:
    return {child: cmd for child, (ppid, cmd) in living_processes().items() if ppid == pid}


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="nobat-run-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {**os.environ, "NOBAT_RUN_DATA_DIR": str(data_dir), **settings}
    return {k: v for k, v in env.items() if k not in ("NOBAT_POSTGRES_URL", "NOBAT_NATS_URL")}


# Seeding on the leap day's evening, already 1 March in Tehran, once; at the real instant
# the other time.
@pytest.mark.parametrize(
    ("stop_with", "at"),
    [(signal.SIGINT, stack_instant(LEAP_DAY).isoformat()), (signal.SIGKILL, "")],
    ids=["ctrl-c", "kill-9"],
)
def test_make_run_serves_all_four_services_and_stopping_it_stops_every_process(
    data_dir, stop_with, at
):
    env = run_env(data_dir, NOBAT_RUN_BASE_PORT="0", NOBAT_RUN_AT=at)
    run = subprocess.Popen(
        [sys.executable, "-m", "stack.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        while not any("Ctrl-C stops everything" in line for line in lines):
            assert time.monotonic() < deadline and run.poll() is None, "".join(lines)
            lines.append(run.stdout.readline())
        printed = "".join(lines)
        for name in SERVICES:
            assert f"  {name}" in printed
        assert "/webhooks/gateway" in printed
        assert "warning" not in printed, printed  # the seed went through
        status = subprocess.run(
            [sys.executable, "-m", "cli", "--manifest", str(data_dir / "stack.json"), "status"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("SERVING") == len(SERVICES)
        metrics_urls = [
            line.split("metrics ")[1].strip() for line in lines if "metrics http" in line
        ]
        assert len(metrics_urls) == len(SERVICES)
        for url in metrics_urls:
            with urllib.request.urlopen(url, timeout=5) as reply:
                assert "nobat_events_published_total" in reply.read().decode()
        started = children_of(run.pid)
        # The services, PostgreSQL, NATS and the sandbox gateway.
        assert len(started) == len(SERVICES) + 3, started

        run.send_signal(stop_with)
        assert run.wait(60) == (0 if stop_with == signal.SIGINT else -signal.SIGKILL)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    # Each service gets its shutdown grace to finish; none may stay behind.
    deadline = time.monotonic() + 20
    while set(started) & set(living_processes()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {pid: cmd for pid, cmd in started.items() if pid in living_processes()} == {}


def test_make_run_names_a_taken_port_and_its_holder_in_one_line_and_starts_nothing(data_dir):
    with socket.socket() as taken:
        # Below the kernel's range for outgoing connections (stack.ports): there another
        # worker's connection could hold one of the stack's other ports around it, and the
        # stack would rightly name that one first.
        taken.bind(("0.0.0.0", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        # The base that puts notification's metrics port (base + 103) on the taken one.
        env = run_env(data_dir, NOBAT_RUN_BASE_PORT=str(port - 103))
        ran = subprocess.run(
            [sys.executable, "-m", "stack.run"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert ran.returncode != 0
    said = ran.stdout + ran.stderr
    assert f"notification metrics: port {port} is already in use by pid {os.getpid()} (" in said
    assert "Traceback" not in said
    assert not (data_dir / "pg").exists(), "nothing starts before the ports are known free"
