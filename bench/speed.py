"""How fast the host ran while the bench measured.

This machine's two cores are shared with other tenants: a fixed piece of pure-Python work
took 0.9 ms of CPU one second and 1.4 ms the next on an idle stack, and whole rounds moved
with it (the same code's half-peak p50 was 15 ms in one run and 50 ms in the next). So
that a round's figures can be read against the machine it had, a probe process times that
piece of work every 100 ms in its own thread's CPU time (waiting for a core is not
counted; a slower core is), and each round reports the probe's median and 90th
percentile over the round. The probe costs about 1.5% of one core, the baseline's rounds
and nobat's alike, and is counted in neither.

`python -m bench.speed` is the probe itself: one line "<unix seconds> <microseconds>" per
sample, until it is stopped.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from stack.local import ROOT

EVERY = 0.1


def _work() -> int:
    total = 0
    for i in range(20_000):
        total += i * i
    return total


class HostSpeed:
    """The probe, running from `with` to its end (also when the bench fails)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> HostSpeed:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "wb") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bench.speed"], stdout=out, cwd=ROOT
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def during(self, start: float, end: float) -> dict[str, float]:
        """The probe's CPU microseconds between two instants (unix seconds): median, 90th
        percentile, and how many samples; empty without samples."""
        taken = []
        for line in self.path.read_text().splitlines():
            at, _, micros = line.partition(" ")
            if micros and start <= float(at) <= end:
                taken.append(float(micros))
        if len(taken) < 2:
            return {}
        deciles = statistics.quantiles(taken, n=10)
        return {"p50": statistics.median(taken), "p90": deciles[8], "samples": len(taken)}


def main() -> None:
    while True:
        begun = time.thread_time_ns()
        _work()
        spent = (time.thread_time_ns() - begun) / 1000
        print(f"{time.time():.3f} {spent:.0f}", flush=True)
        time.sleep(EVERY)


if __name__ == "__main__":
    main()
