"""The practical limit of this machine: per flow, the PostgreSQL commits and the JetStream
publishes, fetches and acks that nobat's path makes, from one process with asyncpg and
nats-py against the same servers, with no service in between.

nobat's path, read from the code, per flow (one checkout from Pay to its reservation):

  payment  1. remember the webhook and settle the     commit (webhook_events, payment,
              payment, in one transaction              attempt, ledger, payout, outbox
                                                       PaymentConfirmed)
           2. relay: publish PaymentConfirmed          publish; the outbox mark committed
                                                       with the others of its quarter second
  booking  3. consume PaymentConfirmed                 fetch, commit (inbox, slot, checkout,
                                                       reservation, 2 outbox rows), ack
           4. relay: publish PurchaseFulfilled and     2 publishes; the marks as in step 2
              ReservationConfirmed
  payment  5. consume PurchaseFulfilled                fetch, commit (inbox, payment), ack

Three commits, three publishes, two fetched and acked deliveries, and the relays' marks,
one commit a database every `MARK_AFTER` seconds at most, as nobat's relays make them.
(Until nobat settled a webhook in the transaction that remembers it, step 1 was two
commits, and so was the baseline's; until its relays gathered their marks, each flow's
steps 2 and 4 committed one each, and so did the baseline's.) Each commit writes the
fewest rows that stand for its step. The same two databases' worth of
tables live in databases of their own on the same server, with a stream of their own on
the same NATS. A flow is recorded at step 3's commit, as a reservation is.

Other contexts may consume these events too (notification reads the reservation's): for
each further delivery per flow that nobat was seen to make, a side consumer fetches the
reservation's event and acks, and as many of them as nobat was seen to make further
commits first commit an inbox row in a third database, so that the two do the same count
of deliveries and of commits. (Until payment named the purchase's kind in its subjects,
consultation and notification were each delivered a booking's PaymentConfirmed, to pass
over without a transaction, and the baseline had two side consumers more that only
acked.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from bench.drive import close
from bench.profile import CpuMeter, spent
from bench.servers import Running
from runtime.events import Stream
from runtime.messaging import ensure_stream
from runtime.relay import MARK_AFTER

# Commits besides the relays' marks.
PER_FLOW = {"commits": 3, "publishes": 3, "deliveries": 2}
# A stream of its own, with subjects shaped like nobat's (nobat.<context>.v1.<Event>).
STREAM = Stream("BENCH_BASELINE", "bench")
CONFIRMED = "nobat.bench.v1.Confirmed"
FULFILLED = "nobat.bench.v1.Fulfilled"
RESERVED = "nobat.bench.v1.Reserved"
# About the size of the real events.
PAYLOAD = bytes(300)
DATABASES = {
    "payment": "bench_baseline_payment",
    "booking": "bench_baseline_booking",
    "side": "bench_baseline_side",
}
# A service's engine: pool_size 10 plus max_overflow 10.
POOL = 20

_RUNTIME_TABLES = """
CREATE TABLE outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE, subject text NOT NULL, payload bytea NOT NULL,
    headers jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE TABLE inbox (consumer text, event_id text, received_at timestamptz NOT NULL
    DEFAULT now(), PRIMARY KEY (consumer, event_id));
"""
SCHEMA = {
    "payment": _RUNTIME_TABLES
    + """
CREATE TABLE webhook_events (event_id text PRIMARY KEY, payment_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE payments (id text PRIMARY KEY, status text NOT NULL, confirmed_at timestamptz,
    fulfilled_at timestamptz);
""",
    "booking": _RUNTIME_TABLES
    + """
CREATE TABLE reservations (id text PRIMARY KEY, payment_id text NOT NULL UNIQUE,
    confirmed_at timestamptz NOT NULL DEFAULT now());
""",
    "side": _RUNTIME_TABLES,
}


@dataclass
class Result:
    flows: int
    concurrency: int
    # Commits, publishes and deliveries per flow.
    plan: dict[str, int]
    seconds: float
    rate: float
    write_transactions_per_flow: float
    cpu_seconds: dict[str, float]
    # As a round's (bench/rounds.py), over the baseline's flows.
    host_probe_us: dict[str, float] = field(default_factory=dict)


class Baseline:
    def __init__(self, up: Running, concurrency: int, side: int = 0, side_commits: int = 0) -> None:
        self.up = up
        self.concurrency = concurrency
        self.side = side
        # Of the side consumers, how many commit an inbox row; the others only ack.
        self.side_commits = min(side, side_commits)
        self._ends = 0
        self._done = asyncio.Event()
        self._flows = 0
        # Outbox rows published and not marked yet, by the pool of their database.
        self._unmarked: dict[asyncpg.Pool, list[int]] = {}

    async def run(self, flows: int, meter: CpuMeter) -> Result:
        await self._create_databases()
        self._flows = flows
        pools = {
            name: await asyncpg.create_pool(self.up.dsn(db), min_size=POOL, max_size=POOL)
            for name, db in DATABASES.items()
        }
        nc = await nats.connect(self.up.nats_url, name="bench-baseline")
        js = nc.jetstream()
        await ensure_stream(js, STREAM, duplicate_window=120.0)
        self.pay, self.book, self.side_db = pools["payment"], pools["booking"], pools["side"]
        self.js = js
        ids = [uuid.uuid4().hex for _ in range(flows)]
        await self.pay.executemany(
            "INSERT INTO payments (id, status) VALUES ($1, 'processing')", [(i,) for i in ids]
        )
        consumers = [
            await _Consumer.bind(js, "baseline-booking", CONFIRMED, self._record),
            await _Consumer.bind(js, "baseline-payment", FULFILLED, self._fulfil),
            *[
                await _Consumer.bind(
                    js,
                    f"baseline-side-{n}",
                    RESERVED,
                    self._aside if n < self.side_commits else self._pass_over,
                )
                for n in range(self.side)
            ],
        ]
        loops = [asyncio.create_task(consumer.run()) for consumer in consumers]
        loops.append(asyncio.create_task(self._marking()))
        try:
            xid_before = await _xid(self.book)
            cpu_before = meter.read()
            started = time.time()
            gate = asyncio.Semaphore(self.concurrency)

            async def flow(payment_id: str) -> None:
                async with gate:
                    await self._pay(payment_id)

            await asyncio.gather(*(flow(i) for i in ids))
            await asyncio.wait_for(self._done.wait(), timeout=max(60.0, flows / 5))
            # As nobat's are, within the quarter second after its last flow.
            await self._mark()
            cpu_after = meter.read()
            transactions = await _xid(self.book) - xid_before - 1
            last = await self.book.fetchval(
                "SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin)))::float8"
                " FROM reservations"
            )
        finally:
            for consumer in consumers:
                await consumer.stop()
            loops[-1].cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await nc.close()
            for pool in pools.values():
                await close(pool)
            # Left behind, their tables were vacuumed during nobat's next round.
            await self.up.cluster.execute(
                *(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in DATABASES.values())
            )
        seconds = last - started
        return Result(
            flows=flows,
            concurrency=self.concurrency,
            plan={
                "commits": PER_FLOW["commits"] + self.side_commits,
                "publishes": PER_FLOW["publishes"],
                "deliveries": PER_FLOW["deliveries"] + self.side,
            },
            seconds=seconds,
            rate=flows / seconds,
            write_transactions_per_flow=transactions / flows,
            cpu_seconds=spent(cpu_before, cpu_after),
            host_probe_us=meter.host_speed(started, last),
        )

    async def _create_databases(self) -> None:
        for name, db in DATABASES.items():
            await self.up.cluster.execute(
                f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', f'CREATE DATABASE "{db}"'
            )
            await self.up.cluster.execute(SCHEMA[name], database=db)

    async def _pay(self, payment_id: str) -> None:
        """Steps 1 and 2, in payment's database."""
        async with self.pay.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO webhook_events (event_id, payment_id) VALUES ($1, $2)",
                f"evt_{uuid.uuid4().hex}",
                payment_id,
            )
            await conn.execute(
                "UPDATE payments SET status = 'succeeded', confirmed_at = now() WHERE id = $1",
                payment_id,
            )
            row = await _outbox(conn, [(CONFIRMED, payment_id)])
        await self._relay(self.pay, row)

    async def _record(self, msg: Msg) -> None:
        """Steps 3 and 4, in booking's database."""
        payment_id = _header(msg, "Bench-Payment")
        async with self.book.acquire() as conn, conn.transaction():
            await _inbox(conn, "booking", msg)
            await conn.execute(
                "INSERT INTO reservations (id, payment_id) VALUES ($1, $2)",
                uuid.uuid4().hex,
                payment_id,
            )
            rows = await _outbox(conn, [(FULFILLED, payment_id), (RESERVED, payment_id)])
        await msg.ack()
        await self._relay(self.book, rows)

    async def _fulfil(self, msg: Msg) -> None:
        """Step 5, in payment's database."""
        async with self.pay.acquire() as conn, conn.transaction():
            await _inbox(conn, "payment", msg)
            await conn.execute(
                "UPDATE payments SET fulfilled_at = now() WHERE id = $1",
                _header(msg, "Bench-Payment"),
            )
        await msg.ack()
        self._ended()

    async def _aside(self, msg: Msg) -> None:
        """Another context's consumer of the reservation's event, in its own database."""
        async with self.side_db.acquire() as conn, conn.transaction():
            await _inbox(conn, msg.metadata.consumer or "side", msg)
        await msg.ack()
        self._ended()

    async def _pass_over(self, msg: Msg) -> None:
        """Another context's consumer of an event that is not news to it: acked, no
        transaction (as nobat's consumers pass over what does not concern them)."""
        await msg.ack()
        self._ended()

    def _ended(self) -> None:
        """A flow's last handler has run: the payment's, and every side consumer's."""
        self._ends += 1
        if self._ends == self._flows * (1 + self.side):
            self._done.set()

    async def _relay(self, pool: asyncpg.Pool, rows: list[asyncpg.Record]) -> None:
        await asyncio.gather(
            *(
                self.js.publish(
                    row["subject"],
                    PAYLOAD,
                    headers={"Nats-Msg-Id": str(row["event_id"]), "Bench-Payment": row["ref"]},
                )
                for row in rows
            )
        )
        self._unmarked.setdefault(pool, []).extend(row["id"] for row in rows)

    async def _marking(self) -> None:
        while True:
            await asyncio.sleep(MARK_AFTER)
            await self._mark()

    async def _mark(self) -> None:
        for pool, ids in list(self._unmarked.items()):
            if ids:
                self._unmarked[pool] = []
                await pool.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids
                )


async def _outbox(conn: asyncpg.Connection, events: list[tuple[str, str]]) -> list:
    return await conn.fetch(
        "INSERT INTO outbox (event_id, subject, payload, headers)"
        " SELECT gen_random_uuid(), e.subject, $2, jsonb_build_object('ref', e.ref)"
        " FROM unnest($1::text[], $3::text[]) AS e (subject, ref)"
        " RETURNING id, event_id, subject, headers->>'ref' AS ref",
        [subject for subject, _ in events],
        PAYLOAD,
        [ref for _, ref in events],
    )


def _header(msg: Msg, name: str) -> str:
    # Every message read here was published by this module, with its headers.
    assert msg.headers is not None
    return msg.headers[name]


async def _inbox(conn: asyncpg.Connection, consumer: str, msg: Msg) -> None:
    await conn.execute(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        _header(msg, "Nats-Msg-Id"),
    )


async def _xid(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT pg_current_xact_id()::text"))


class _Consumer:
    """nobat's consumer loop without nobat: fetch up to ten, handle them together."""

    def __init__(self, sub: JetStreamContext.PullSubscription, handle) -> None:
        self._sub = sub
        self._handle: Callable[[Msg], Awaitable[None]] = handle
        self._stopping = False

    @classmethod
    async def bind(
        cls, js: JetStreamContext, name: str, subject: str, handle: Callable[[Msg], Awaitable[None]]
    ) -> _Consumer:
        await js.add_consumer(
            STREAM.name,
            ConsumerConfig(
                name=name,
                durable_name=name,
                filter_subject=subject,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
                max_ack_pending=1000,
            ),
        )
        return cls(await js.pull_subscribe_bind(durable=name, stream=STREAM.name), handle)

    async def run(self) -> None:
        while not self._stopping:
            try:
                messages = await self._sub.fetch(10, timeout=1.0)
            except TimeoutError:
                continue
            except Exception:
                if self._stopping:
                    return
                raise
            await asyncio.gather(*(self._handle(msg) for msg in messages))

    async def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()
