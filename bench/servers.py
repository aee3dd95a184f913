"""The system under test: nobat's local stack on a PostgreSQL server the bench owns.

The bench runs PostgreSQL itself (the stack's EmbeddedPostgres, with its durable
defaults) for two reasons. It turns on `track_commit_timestamp`, so a reservation's
record time is the commit of the transaction that wrote it, read back afterwards with
`pg_xact_commit_timestamp(xmin)`, not a clock read by the handler before committing.
And its data folder (`.data/bench/pg` unless told otherwise) outlives the run, so the
historical databases are built once and copied in by the runs that follow. Its buffer
cache is production's (deploy/postgres/cluster.yaml), not PostgreSQL's default of 128MB:
with a million rows behind them, what the flows' inserts cost depends on it.

LocalStack uses that server through NOBAT_POSTGRES_URL and brings up NATS, the sandbox
gateway and the four services as it does for `make run`, each time on freshly created
service databases.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import yaml

from bench import say
from stack._process import StackError
from stack.databases import Databases
from stack.local import ROOT, SERVICES, LocalStack, service_environment
from stack.postgres import EmbeddedPostgres

# Production's PostgreSQL, whose cache sizes the bench's server takes.
PRODUCTION_CLUSTER = ROOT / "deploy" / "postgres" / "cluster.yaml"

# Long job intervals keep the periodic sweeps (expiry, reconciliation, payouts, orphans)
# out of the measurements; long holds keep pre-created checkouts payable.
# The benchmark drives and watches everything, and its baseline has streams of its own: its
# NATS user may do anything, beside the services' own users.
BENCH_USER = "bench"
EVERYTHING = {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
OVERRIDES = {
    "NOBAT_LOG_LEVEL": "WARNING",
    "NOBAT_BOOKING_HOLD_SECONDS": "7200",
    "NOBAT_BOOKING_JOB_INTERVAL_SECONDS": "86400",
    "NOBAT_PAYMENT_JOB_INTERVAL_SECONDS": "86400",
    "NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS": "86400",
    "NOBAT_PAYMENT_ORPHAN_GRACE_SECONDS": "86400",
    # The driver's tokens last the whole run (bench/drive.py), longer than users' may.
    "NOBAT_JWT_MAX_LIFETIME_SECONDS": "7200",
}


@dataclass
class Cluster:
    postgres: EmbeddedPostgres

    def dsn(self, database: str) -> str:
        return Databases(self.postgres.url()).dsn(database)

    async def execute(self, *statements: str, database: str = "postgres") -> None:
        conn = await asyncpg.connect(self.dsn(database))
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    def migrate(self, service: str, database: str) -> None:
        """Brings `database` to the latest revision of `service`'s schema."""
        url = Databases(self.postgres.url()).url(database)
        done = subprocess.run(
            [sys.executable, "-m", f"services.{service}", "migrate"],
            # Migrating needs the database only; no NATS, no token settings.
            env=service_environment(url, "", {}),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StackError(f"migrating {database} failed:\n{done.stderr[-3000:]}")

    async def drop_service_databases(self) -> None:
        await self.execute(
            *(f'DROP DATABASE IF EXISTS "nobat_{name}" WITH (FORCE)' for name in SERVICES)
        )


@dataclass
class Running:
    stack: LocalStack
    cluster: Cluster

    def dsn(self, database: str) -> str:
        return self.cluster.dsn(database)

    @property
    def nats_url(self) -> str:
        return self.stack.nats_url_as(BENCH_USER)

    def pid(self, service: str) -> int:
        process = self.stack.services[service].process
        assert process is not None
        return process.pid


@contextmanager
def cluster(data_dir: Path) -> Iterator[Cluster]:
    """The bench's PostgreSQL, stopped however the block ends (Ctrl-C and SIGTERM too)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(data_dir / "pg")
    sigterm = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _start_with_settings(postgres)
        yield Cluster(postgres)
    finally:
        with _ignoring_interrupts():
            postgres.stop()
            signal.signal(signal.SIGTERM, sigterm)


@contextmanager
def running(on: Cluster, data_dir: Path) -> Iterator[Running]:
    """NATS, the sandbox and the four services on `on`'s server, all stopped at the end.
    Service databases that exist are used as they are; missing ones are created."""
    previous = os.environ.get("NOBAT_POSTGRES_URL")
    os.environ["NOBAT_POSTGRES_URL"] = on.postgres.url()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    stack: LocalStack | None = None
    try:
        stack = _start_stack(data_dir)
        yield Running(stack, on)
    finally:
        # Ctrl-C pressed again while stopping must not leave servers behind.
        with _ignoring_interrupts():
            if stack is not None:
                stack.stop()
            if previous is None:
                os.environ.pop("NOBAT_POSTGRES_URL", None)
            else:
                os.environ["NOBAT_POSTGRES_URL"] = previous


def server_settings() -> dict[str, str]:
    """What the bench's server runs with: commit timestamps, and the cache sizes of
    production's cluster, read from its manifest so that the two do not drift."""
    manifest = yaml.safe_load(PRODUCTION_CLUSTER.read_text())
    parameters = manifest["spec"]["postgresql"]["parameters"]
    return {"track_commit_timestamp": "on"} | {
        name: parameters[name] for name in ("shared_buffers", "effective_cache_size")
    }


def _start_with_settings(postgres: EmbeddedPostgres) -> None:
    """These settings take a restart; ALTER SYSTEM keeps them in the data folder."""
    postgres.start()
    wanted = server_settings()

    async def changed() -> bool:
        conn = await asyncpg.connect(postgres.dsn())
        try:
            found = {
                row["name"]: row["setting"]
                for row in await conn.fetch(
                    "SELECT name, current_setting(name) AS setting FROM pg_settings"
                    " WHERE name = ANY($1::text[])",
                    list(wanted),
                )
            }
            stale = {name: value for name, value in wanted.items() if found.get(name) != value}
            for name, value in stale.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            return bool(stale)
        finally:
            await conn.close()

    if asyncio.run(changed()):
        postgres.stop()
        postgres.start()


def _start_stack(data_dir: Path, tries: int = 3) -> LocalStack:
    """Ports are picked free but bound later, so a busy machine (tests running beside us)
    can take one in between: that start fails as a whole and is tried again."""
    for attempt in range(1, tries + 1):
        stack = LocalStack(data_dir, overrides=OVERRIDES, nats_users={BENCH_USER: EVERYTHING})
        try:
            stack.start()
            return stack
        except StackError as exc:
            if attempt == tries or "address already in use" not in str(exc).lower():
                raise
            say("a port was taken while the stack started; starting it again")
    raise AssertionError("unreachable")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends the run as Ctrl-C does: inside asyncio.run, SIGINT cancels the main
    task, whose cleanups then run in order; elsewhere it raises KeyboardInterrupt."""
    signal.raise_signal(signal.SIGINT)


@contextmanager
def _ignoring_interrupts() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
