"""`python -m bench.statements`: the SQL statements one paid booking costs each service's
database, counted from PostgreSQL's own log, so a change to the hot path is judged
without timing anything (the machine may be busy; a count does not care).

A stack on a fresh server, as `make bench` runs it; a warm-up round first, so every
pooled connection has prepared its statements and met its types; then the server logs
every statement (`log_statement = 'all'`) while the flows run, from webhook to payment
hearing PurchaseFulfilled and every consumer (notification's too) drained. An idle
window of the same log gives each database's background rate (relay polls, job ticks),
taken off in proportion to the run's length. BEGIN and COMMIT count; a batch written by
`executemany` counts one per row, though it is one round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.drive import Driver
from bench.servers import Cluster, Running, cluster, running
from cli import invariants

WARMUP = 60
IDLE_SECONDS = 10.0
_IDLE, _START, _END = "statements-idle", "statements-start", "statements-end"
# `%d` and `%a` in the prefix: the database and the application, since only the
# services' connections (application_name nobat) count, not the driver's polls.
_PREFIX = "%m [%p] db=%d app=%a "
_LINE = re.compile(
    r"^\S+ \S+ \S+ \[\d+\] db=(\S*) app=(\S*) LOG:  (?:statement|execute [^:]*): (.*)"
)


async def _logging(on: Cluster, enabled: bool) -> None:
    setting = "all" if enabled else "none"
    await on.execute(
        f"ALTER SYSTEM SET log_line_prefix = '{_PREFIX}'",
        f"ALTER SYSTEM SET log_statement = '{setting}'",
        "SELECT pg_reload_conf()",
    )


async def _mark(on: Cluster, mark: str) -> None:
    await on.execute(f"SELECT '{mark}'")


async def _drive(up: Running, flows: int, concurrency: int) -> float:
    """Runs the flows with the log on; how long they took, idle window excluded."""
    async with Driver(up, concurrency) as driver:
        warm = await driver.checkouts(WARMUP)
        measured = await driver.checkouts(flows)
        await driver.press(warm)
        if await driver.wait_fulfilled(warm, 120) or await driver.drain(60):
            raise RuntimeError("the warm-up round did not finish")
        await _logging(up.cluster, True)
        # Backends take the new setting when they next see the server's reload signal.
        await asyncio.sleep(1.0)
        await _mark(up.cluster, _IDLE)
        await asyncio.sleep(IDLE_SECONDS)
        await _mark(up.cluster, _START)
        started = time.monotonic()
        await driver.press(measured)
        if await driver.wait_fulfilled(measured, 120) or await driver.drain(60):
            raise RuntimeError("the measured round did not finish")
        took = time.monotonic() - started
        await _mark(up.cluster, _END)
        await _logging(up.cluster, False)
    violations = await invariants.check(up.stack.database_urls, up.stack.nats_url)
    if violations:
        raise RuntimeError(f"nobat check after the flows: {violations}")
    return took


def statements_logged(log: Path) -> dict[str, list[list[str]]]:
    """[database, statement] of the services' connections, in the idle window and the run."""
    found: dict[str, list[list[str]]] = {"idle": [], "run": []}
    window: str | None = None
    current: list[str] | None = None
    for line in log.read_text(errors="replace").splitlines():
        if _END in line:
            break
        if _IDLE in line or _START in line:
            window, current = ("idle" if _IDLE in line else "run"), None
            continue
        matched = _LINE.match(line)
        if matched is None:
            # A statement's further lines are tab-indented; anything else ends it.
            if current is not None and line.startswith("\t"):
                current[1] += " " + line.strip()
            else:
                current = None
            continue
        database, application, text = matched.groups()
        current = None
        if window is not None and application == "nobat":
            current = [database, text]
            found[window].append(current)
    return found


def _report(found: dict[str, list], flows: int, took: float, concurrency: int) -> None:
    idle = Counter(database for database, _ in found["idle"])
    run = Counter(database for database, _ in found["run"])
    print(f"{flows} paid bookings, {concurrency} presses in flight, {took:.1f} s")
    print(f"{'database':<22}{'statements':>11}{'idle/s':>8}{'per flow':>10}")
    for database in sorted(run):
        background = idle[database] / IDLE_SECONDS * took
        per_flow = (run[database] - background) / flows
        rate = idle[database] / IDLE_SECONDS
        print(f"{database:<22}{run[database]:>11}{rate:>8.1f}{per_flow:>10.2f}")
    for database in sorted(run):
        print(f"\n{database}, per flow:")
        texts = Counter(
            " ".join(text.split())[:140] for where, text in found["run"] if where == database
        )
        for text, count in texts.most_common():
            print(f"{count / flows:7.2f}  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--flows", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1, help="Pay presses in flight")
    args = parser.parse_args()
    # Not a kept folder: each count starts from an empty server. Readable by PostgreSQL's
    # own user when run as root.
    data_dir = Path(tempfile.mkdtemp(prefix="nobat-statements-"))
    data_dir.chmod(0o755)
    try:
        with cluster(data_dir) as on, running(on, data_dir / "stack") as up:
            took = asyncio.run(_drive(up, args.flows, args.concurrency))
            log = on.postgres.log_path
        _report(statements_logged(log), args.flows, took, args.concurrency)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
