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

`--history 1000000` runs the flows on the bench's kept history (`make bench` builds it
in .data/bench; built here if missing), and `--plans` has PostgreSQL's auto_explain log
how each statement of the run was executed (EXPLAIN ANALYZE, buffers): the report then
prints, for each hot statement, the plan of its median execution. That is how the hot
queries are shown to stay index lookups with a million rows behind them.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from bench import history
from bench.drive import Driver
from bench.servers import Cluster, Running, cluster, running
from cli import invariants
from stack.local import ROOT

WARMUP = 60
IDLE_SECONDS = 10.0
# Marks of this run's windows in the server's log, which a kept cluster's log appends to.
_RUN = uuid.uuid4().hex[:8]
_IDLE, _START, _END = (f"statements-{mark}-{_RUN}" for mark in ("idle", "start", "end"))
# `%d` and `%a` in the prefix: the database and the application, since only the
# services' connections (application_name nobat) count, not the driver's polls.
_PREFIX = "%m [%p] db=%d app=%a "
_LINE = re.compile(
    r"^\S+ \S+ \S+ \[\d+\] db=(\S*) app=(\S*) LOG:  (?:statement|execute [^:]*): (.*)"
)
_PLAN = re.compile(r"^\S+ \S+ \S+ \[\d+\] db=(\S*) app=(\S*) LOG:  duration: ([\d.]+) ms  plan:")
# auto_explain, loaded into every new session and off until the measured window: the
# pool's connections are opened before it, and a library cannot be loaded into them later.
_EXPLAIN = {
    "auto_explain.log_analyze": "on",
    "auto_explain.log_buffers": "on",
    "auto_explain.log_timing": "on",
    "auto_explain.log_format": "text",
    # The plans without the bound values: chat text and addresses stay out of the log.
    "auto_explain.log_parameter_max_length": "0",
}
_SETTINGS = ("log_line_prefix", "log_statement", "auto_explain.log_min_duration")


async def _logging(on: Cluster, enabled: bool, plans: bool = False) -> None:
    setting = "all" if enabled else "none"
    statements = [
        f"ALTER SYSTEM SET log_line_prefix = '{_PREFIX}'",
        f"ALTER SYSTEM SET log_statement = '{setting}'",
    ]
    if plans:
        statements.append(
            f"ALTER SYSTEM SET auto_explain.log_min_duration = {0 if enabled else -1}"
        )
    await on.execute(*statements, "SELECT pg_reload_conf()")


async def _explaining(on: Cluster, enabled: bool) -> None:
    """auto_explain loaded into the sessions opened from now on (the stack's), or every
    setting this module made taken back, so a kept cluster is left as it was found."""
    if enabled:
        await on.execute(
            "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'",
            "ALTER SYSTEM SET auto_explain.log_min_duration = -1",
            *(f"ALTER SYSTEM SET {name} = '{value}'" for name, value in _EXPLAIN.items()),
            "SELECT pg_reload_conf()",
        )
        return
    names = ("session_preload_libraries", *_SETTINGS, *_EXPLAIN)
    await on.execute(*(f"ALTER SYSTEM RESET {name}" for name in names), "SELECT pg_reload_conf()")


async def _mark(on: Cluster, mark: str) -> None:
    await on.execute(f"SELECT '{mark}'")


async def _drive(up: Running, flows: int, concurrency: int, plans: bool) -> float:
    """Runs the flows with the log on; how long they took, idle window excluded."""
    async with Driver(up, concurrency) as driver:
        warm = await driver.checkouts(WARMUP)
        measured = await driver.checkouts(flows)
        await driver.press(warm)
        if await driver.wait_fulfilled(warm, 120) or await driver.drain(60):
            raise RuntimeError("the warm-up round did not finish")
        await _logging(up.cluster, True, plans)
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
        await _logging(up.cluster, False, plans)
    violations = await invariants.check(up.stack.database_urls, up.stack.nats_url)
    if violations:
        raise RuntimeError(f"nobat check after the flows: {violations}")
    return took


def _windows(log: Path) -> Iterator[tuple[str | None, str]]:
    """Each line of the log up to the end mark, with the window it is in ("idle", "run",
    or None before the first mark); the marks themselves are left out."""
    window: str | None = None
    for line in log.read_text(errors="replace").splitlines():
        if _END in line:
            return
        if _IDLE in line or _START in line:
            window = "idle" if _IDLE in line else "run"
            continue
        yield window, line


def statements_logged(log: Path) -> dict[str, list[list[str]]]:
    """[database, statement] of the services' connections, in the idle window and the run."""
    found: dict[str, list[list[str]]] = {"idle": [], "run": []}
    current: list[str] | None = None
    for window, line in _windows(log):
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


def plans_logged(log: Path) -> dict[tuple[str, str], list[tuple[float, str]]]:
    """(database, statement) → (milliseconds, plan) of each execution auto_explain logged
    for the services' connections in the run."""
    found: dict[tuple[str, str], list[tuple[float, str]]] = {}
    # The plan being read: its database, its milliseconds and its lines so far.
    block: tuple[str, float, list[str]] | None = None

    def close() -> None:
        if block is None:
            return
        database, took, lines = block
        # The query's text comes first (one or more lines), then the plan, whose every
        # node has its actual time.
        start = next((i for i, text in enumerate(lines) if "(actual " in text), len(lines))
        query = " ".join(" ".join(lines[:start]).removeprefix("Query Text:").split())
        found.setdefault((database, query[:140]), []).append((took, "\n".join(lines[start:])))

    for window, line in _windows(log):
        if block is not None and line.startswith("\t"):
            block[2].append(line[1:])
            continue
        close()
        block = None
        matched = _PLAN.match(line)
        if matched is not None and window == "run" and matched.group(2) == "nobat":
            block = (matched.group(1), float(matched.group(3)), [])
    close()
    return found


def _report_plans(plans: dict[tuple[str, str], list[tuple[float, str]]], flows: int) -> None:
    """The plan of each statement run at least once a flow, at its median execution."""
    for (database, query), runs in sorted(plans.items()):
        if len(runs) < flows:
            continue
        runs.sort()
        took, plan = runs[len(runs) // 2]
        print(f"\n{database}: {query}")
        print(f"  {len(runs)} executions, median {took:.3f} ms")
        print("\n".join("    " + text for text in plan.splitlines()))


def _report(found: dict[str, list], flows: int, took: float, concurrency: int) -> None:
    idle = Counter(database for database, _ in found["idle"])
    run = Counter(database for database, _ in found["run"])
    print(f"{flows} paid bookings, {concurrency} presses in flight, {took:.1f} s")
    print(f"{'database':<22}{'statements':>11}{'idle/s':>8}{'per flow':>10}")
    for database in sorted(run):
        rate = idle[database] / IDLE_SECONDS
        per_flow = (run[database] - rate * took) / flows
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
    parser.add_argument(
        "--history", type=int, default=0, help="rows of history behind the flows (the bench's)"
    )
    parser.add_argument("--plans", action="store_true", help="each hot statement's plan")
    args = parser.parse_args()
    if args.history:
        # The bench's kept folder, where `make bench` built the history.
        data_dir = ROOT / ".data" / "bench"
    else:
        # Not a kept folder: each count starts from an empty server. Readable by
        # PostgreSQL's own user when run as root.
        data_dir = Path(tempfile.mkdtemp(prefix="nobat-statements-"))
        data_dir.chmod(0o755)
    try:
        with cluster(data_dir) as on:
            asyncio.run(on.drop_service_databases())
            if args.history:
                asyncio.run(history.prepare(on, args.history))
                asyncio.run(history.install(on))
            if args.plans:
                asyncio.run(_explaining(on, True))
            try:
                with running(on, data_dir / "stack") as up:
                    took = asyncio.run(_drive(up, args.flows, args.concurrency, args.plans))
            finally:
                asyncio.run(_explaining(on, False))
            log = on.postgres.log_path
            _report(statements_logged(log), args.flows, took, args.concurrency)
            if args.plans:
                _report_plans(plans_logged(log), args.flows)
    finally:
        if not args.history:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
