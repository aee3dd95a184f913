"""What idle live streams cost one service process: `python -m bench.idle_streams`.

Runs one service (consultation's chat streams or notification's feed) from a checkout of
nobat (`--code`, so a branch and main can be compared with the same bench), on its own
PostgreSQL (durable defaults) and NATS, opens K streams that nothing is said on, and
reports over a measured window, once with no streams and once with K:

- the service process's CPU (share of one core) and resident memory;
- the database's transactions per second (pg_stat_database's xact_commit and
  xact_rollback for the service's database) and rows read per second, and its
  connections from the service.

Consultation's streams each follow a consultation of its own, accepted by a doctor, so
the chat is open; one stream per patient. Notification's follow one user each. Not a
test: figures go to stdout (and --json), nothing passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import say
from stack.databases import Databases
from stack.identity import Identities
from stack.local import ROOT, SERVICES, service_environment
from stack.nats import EmbeddedNats
from stack.ports import free_port
from stack.postgres import EmbeddedPostgres


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_streams", description=__doc__)
    parser.add_argument(
        "--service", choices=["consultation", "notification"], default="consultation"
    )
    parser.add_argument("--streams", type=int, default=200, help="idle streams to open (K)")
    parser.add_argument("--seconds", type=float, default=30.0, help="each measured window")
    parser.add_argument("--warmup", type=float, default=10.0, help="settling before each window")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose service runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--service-log", type=Path, default=None, help="keep its log here")
    return parser.parse_args(argv)


@contextlib.contextmanager
def servers(folder: Path) -> Iterator[tuple[EmbeddedPostgres, EmbeddedNats]]:
    with EmbeddedPostgres(folder / "pg") as postgres, EmbeddedNats(folder / "nats") as nats:
        yield postgres, nats


def run_service(args: argparse.Namespace, env: dict[str, str], log: Path) -> subprocess.Popen:
    code = args.code.resolve()
    env = env | {"PYTHONPATH": os.pathsep.join([str(code), str(code / "gen")])}
    subprocess.run(
        [sys.executable, "-m", f"services.{args.service}", "migrate"],
        env=env,
        cwd=code,
        check=True,
    )
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{args.service}", "serve"],
            env=env,
            cwd=code,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_serving(port: int, proc: subprocess.Popen, log: Path) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"the service exited; its log is {log}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit("the service is not serving after a minute")


async def seed_chats(database_url: str, count: int) -> list[tuple[str, str]]:
    """`count` consultations, each its own patient's, accepted by one doctor: (patient,
    consultation) pairs. Stored with consultation's own repositories (this checkout's;
    the schema is the same on both sides of the comparison)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from runtime.db import sessionmaker
    from tests.integration.consultation.conftest import Repositories
    from tests.integration.consultation.test_repository import submitted
    from tests.unit.consultation.builders import NOW, a_doctor

    engine = create_async_engine(database_url)
    doctor = a_doctor()
    pairs = []
    try:
        async with Repositories(sessionmaker(engine)) as db:
            await db.doctors.save(doctor)
            for n in range(count):
                *parents, consultation = submitted(
                    f"bench-{n}", on_shift=[doctor], patient_id=f"patient-{n}"
                )
                # The API takes consultation ids as the service makes them.
                consultation.id = str(uuid.uuid4())
                consultation.accept(doctor.id, NOW)
                for aggregate in (*parents, consultation):
                    await db.of(aggregate).save(aggregate)
                pairs.append((consultation.patient_id, consultation.id))
            await db.commit()
    finally:
        await engine.dispose()
    return pairs


def open_stream(args, channel: grpc.aio.Channel, token: str, target: str):
    metadata = [("authorization", f"Bearer {token}")]
    if args.service == "consultation":
        from nobat.consultation.v1 import consultation_service_pb2 as cpb
        from nobat.consultation.v1 import consultation_service_pb2_grpc as cstubs

        request = cpb.StreamMessagesRequest(consultation_id=target)
        return cstubs.ConsultationServiceStub(channel).StreamMessages(request, metadata=metadata)
    from nobat.notification.v1 import notification_service_pb2 as npb
    from nobat.notification.v1 import notification_service_pb2_grpc as nstubs

    stub = nstubs.NotificationServiceStub(channel)
    return stub.StreamNotifications(npb.StreamNotificationsRequest(), metadata=metadata)


async def database_counters(dsn: str, database: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT xact_commit + xact_rollback AS transactions,"
            " tup_returned + tup_fetched AS rows_read"
            " FROM pg_stat_database WHERE datname = $1",
            database,
        )
        connections = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return {**dict(row), "connections": connections}


async def window(args, process: psutil.Process, dsn: str, database: str) -> dict[str, float]:
    await asyncio.sleep(args.warmup)
    cpu_before = process.cpu_times()
    db_before = await database_counters(dsn, database)
    started = time.monotonic()
    await asyncio.sleep(args.seconds)
    elapsed = time.monotonic() - started
    cpu_after = process.cpu_times()
    db_after = await database_counters(dsn, database)
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {
        "cpu_percent_of_one_core": round(100 * cpu / elapsed, 2),
        "rss_mib": round(process.memory_info().rss / 2**20, 1),
        "db_transactions_per_second": round(
            (db_after["transactions"] - db_before["transactions"]) / elapsed, 2
        ),
        "db_rows_read_per_second": round(
            (db_after["rows_read"] - db_before["rows_read"]) / elapsed, 1
        ),
        "db_connections": db_after["connections"],
        # Figures mean something only on a quiet machine.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


async def measure(args: argparse.Namespace, folder: Path) -> dict:
    with servers(folder) as (postgres, nats):
        database = f"nobat_{args.service}"
        await Databases(postgres.url()).create(database)
        identities = Identities(folder / "identity", SERVICES)
        port = free_port()
        env = service_environment(
            postgres.url(database), nats.url, identities.env(args.service)
        ) | {
            "NOBAT_GRPC_PORT": str(port),
            "NOBAT_METRICS_PORT": str(free_port()),
            "NOBAT_LOG_LEVEL": "WARNING",
            # Consultation's payment client is never called by a stream.
            "NOBAT_PAYMENT_ADDRESS": "127.0.0.1:9",
            # One per patient here; the cap is per patient.
            "NOBAT_MAX_STREAMS_PER_USER": "5",
        }
        log = folder / f"{args.service}.log"
        say(f"starting {args.service} from {args.code}")
        proc = run_service(args, env, log)
        try:
            await wait_serving(port, proc, log)
            if args.service == "consultation":
                say(f"seeding {args.streams} open chats")
                targets = await seed_chats(postgres.url(database), args.streams)
            else:
                targets = [(f"patient-{n}", "") for n in range(args.streams)]
            process = psutil.Process(proc.pid)
            say(f"idle, no streams: {args.warmup:g}s to settle, {args.seconds:g}s measured")
            idle = await window(args, process, postgres.dsn(database), database)
            say(f"  {idle}")

            channels = [
                grpc.aio.insecure_channel(f"127.0.0.1:{port}")
                for _ in range(max(1, args.streams // 100))
            ]
            streams = [
                open_stream(
                    args,
                    channels[n % len(channels)],
                    identities.token(patient, "patient", ttl=3600),
                    target,
                )
                for n, (patient, target) in enumerate(targets)
            ]
            reads = [asyncio.ensure_future(stream.read()) for stream in streams]
            say(f"{args.streams} streams open: {args.warmup:g}s to settle, then measured")
            held: dict[str, float | str] = dict(
                await window(args, process, postgres.dsn(database), database)
            )
            open_now = sum(not read.done() for read in reads)
            ended = [read for read in reads if read.done()]
            held["streams_still_open"] = open_now
            if ended:
                failure = ended[0].exception()
                held["first_ended_with"] = repr(failure or ended[0].result())[:300]
            say(f"  {held}")
            for stream in streams:
                stream.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
            for channel in channels:
                await channel.close()
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            if proc.poll() is None:
                proc.kill()
            if args.service_log:
                shutil.copy(log, args.service_log)
    return {
        "service": args.service,
        "code": str(args.code.resolve()),
        "streams": args.streams,
        "window_seconds": args.seconds,
        "no_streams": idle,
        "with_streams": held,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="nobat-idle-streams-"))
    folder.chmod(0o755)
    try:
        figures = asyncio.run(measure(args, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
