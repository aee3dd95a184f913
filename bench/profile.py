"""Where the time goes: CPU seconds of every process of the stack, and py-spy's samples
inside the services, summarised as the frames that burn the most time themselves."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import Running
from bench.speed import HostSpeed
from stack.local import ROOT

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat from the state on (field 3 is index 0)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu(fields: list[str] | None) -> float:
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _TICKS


class CpuMeter:
    """User plus system seconds of each process so far. PostgreSQL counts its postmaster,
    every backend and helper process it has now and those that have ended; the bench
    counts itself."""

    def __init__(self, up: Running, host: HostSpeed | None = None) -> None:
        self.host = host
        stack = up.stack
        self.pids: dict[str, int | None] = {name: up.pid(name) for name in stack.services}
        assert stack.sandbox is not None and stack.nats is not None
        self.pids |= {"sandbox": stack.sandbox.pid, "nats": stack.nats.pid}
        self.postmaster = up.cluster.postgres.pid

    def read(self) -> dict[str, float]:
        seconds = {name: _cpu(_stat(pid)) for name, pid in self.pids.items() if pid}
        seconds["postgres"] = sum(_cpu(fields) for fields in self._postgres()) + self._ended()
        times = os.times()
        seconds["bench"] = times.user + times.system
        return seconds

    def host_speed(self, start: float, end: float) -> dict[str, float]:
        """The host probe's CPU microseconds between two instants (bench/speed.py)."""
        return self.host.during(start, end) if self.host is not None else {}

    def _ended(self) -> float:
        """The CPU of the backends that have ended: the postmaster reaps them, and the
        kernel adds what they spent to its children's times. Without it a connection
        closed between two readings (a pool's overflow) took its work with it."""
        fields = _stat(self.postmaster) if self.postmaster else None
        return 0.0 if fields is None else (int(fields[13]) + int(fields[14])) / _TICKS

    def _postgres(self) -> list[list[str] | None]:
        found = [_stat(self.postmaster)] if self.postmaster else []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _stat(int(entry.name))
                if fields is not None and fields[1] == str(self.postmaster):
                    found.append(fields)
        return found


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


@dataclass
class Summary:
    samples: int
    seconds: float
    rate: int
    # (frame, share of the samples) by time spent in the frame itself…
    own: list[tuple[str, float]] = field(default_factory=list)
    # …the same summed by package…
    packages: list[tuple[str, float]] = field(default_factory=list)
    # …and by time spent in it or below it, for nobat's own code…
    inclusive: list[tuple[str, float]] = field(default_factory=list)
    # …and the call paths through nobat's code (its frames only, outermost first).
    paths: list[tuple[str, float]] = field(default_factory=list)


class Profiler:
    """py-spy recording each named process until `stop()`; nothing when py-spy is
    missing (`available` says so)."""

    def __init__(self, pids: dict[str, int], out_dir: Path, rate: int = 100) -> None:
        self.pids = pids
        self.out_dir = out_dir
        self.rate = rate
        found = Path(sys.executable).with_name("py-spy")
        self.binary = str(found) if found.exists() else shutil.which("py-spy")
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def available(self) -> bool:
        return self.binary is not None

    def __enter__(self) -> Profiler:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def start(self) -> None:
        if self.binary is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            with open(self.out_dir / f"{name}.log", "wb") as log:
                self._running[name] = subprocess.Popen(
                    [
                        self.binary,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        str(self.rate),
                        # Only samples holding the GIL: the services' own Python work. A
                        # thread preempted inside send() on a busy 2-core machine would
                        # otherwise look like 40% of the time spent writing to sockets.
                        "--gil",
                        "--format",
                        "raw",
                        "--output",
                        str(self.out_dir / f"{name}.txt"),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Our own Ctrl-C handling stops it, after the round, in order.
                    start_new_session=True,
                )

    def stop(self, seconds: float, top: int = 12) -> dict[str, Summary]:
        """Ends the recordings (py-spy writes its file on SIGINT) and sums them up."""
        for proc in self._running.values():
            proc.send_signal(signal.SIGINT)
        summaries = {}
        for name, proc in self._running.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raw = self.out_dir / f"{name}.txt"
            if raw.exists():
                summaries[name] = summarise(raw.read_text(), seconds, self.rate, top)
        self._running.clear()
        return summaries


def summarise(raw: str, seconds: float, rate: int, top: int) -> Summary:
    """py-spy's raw format is one line per distinct stack, `outer;…;inner COUNT`, each
    frame `function (file:line)`; lines are dropped so that a function counts once.

    Only the event loop's thread counts (nobat's code runs nowhere else): stacks rooted in
    another thread (the metrics server, gRPC's pollers) are left out, and so are samples
    of the loop waiting in its selector, which py-spy does not always see as idle.
    SQLAlchemy's greenlets show up as stacks of their own, rooted at the ORM call.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    paths: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(frame) for frame in stack.split(";")]
        if frames[0].endswith("(threading.py)") or _is_waiting(frames[-1]):
            continue
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        packages[_package(frames[-1])] += samples
        ours = [frame for frame in frames if _is_ours(frame)]
        for frame in set(ours):
            inclusive[frame] += samples
        if ours:
            paths[" → ".join(frame.split(" (", 1)[0] for frame in ours)] += samples
    summary = Summary(total, seconds, rate)
    if total:
        summary.own = [(frame, n / total) for frame, n in own.most_common(top)]
        summary.packages = [(name, n / total) for name, n in packages.most_common(top)]
        summary.inclusive = [(frame, n / total) for frame, n in inclusive.most_common(top)]
        summary.paths = [(path, n / total) for path, n in paths.most_common(3)]
    return summary


def _frame(frame: str) -> str:
    function, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{function} ({path})"


def _is_waiting(frame: str) -> bool:
    return frame.endswith("(selectors.py)") and ".select " in frame


def _package(frame: str) -> str:
    """Whose code a frame is: a top-level package, nobat's runtime or a service."""
    path = frame.split(" (", 1)[1].rstrip(")")
    head, _, rest = path.partition("/")
    if head == "services":
        return f"services/{rest.partition('/')[0]}"
    if not rest or head.startswith("<"):
        return "python stdlib"
    return head


def _is_ours(frame: str) -> bool:
    """nobat's code, less the frames every sample passes through, which say nothing."""
    function, _, path = frame.partition(" (")
    return path.startswith(("runtime/", "services/", "sandbox/")) and function not in _OUTERMOST


_OUTERMOST = {"<module>", "main", "run_until_stopped"}
