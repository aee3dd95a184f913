"""Driving nobat as its users do, and reading back from its databases what happened.

Admins open doctors' schedules; patients start checkouts (each on a slot of its own, so
no two flows contend for a row); then each patient presses Pay on the sandbox gateway's
page, through its control API, at the pace a round asks for. A flow is one checkout from
that press to its confirmed reservation, and every instant of it is read back
afterwards from the two databases, so watching costs the system nothing but a cheap
poll: the webhook's arrival (webhook_events.received_at, the receiving transaction's
start), the payment's settle commit, the PaymentConfirmed relay's commit after its
PubAck, and the reservation's commit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import aiohttp
import asyncpg
import grpc
import nats
from google.protobuf import duration_pb2
from google.type import date_pb2, dayofweek_pb2, timeofday_pb2
from nats.js.errors import NotFoundError
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.booking.v1 import booking_service_pb2_grpc
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.payment.v1 import events_pb2 as payment_events_pb2

from bench.servers import Running
from runtime.events import BOOKING, CONSULTATION, PAYMENT
from services.booking.domain.checkout import Checkout

# Every flow the bench drives is a booking's.
CONFIRMED = PAYMENT.subject_for(payment_events_pb2.PaymentConfirmed, Checkout.PURCHASE_KIND)

# A doctor's slots the bench takes: one ListSlots page of the ~190 free ones it opens.
SLOTS_PER_DOCTOR = 100
CALL_TIMEOUT = 60.0
T = TypeVar("T")


@dataclass
class Flow:
    checkout_id: str
    payment_id: str
    session_id: str
    pressed: float = 0.0
    # Unix seconds, from PostgreSQL's clock (the same machine's as `pressed`).
    received: float | None = None
    settled: float | None = None
    published: float | None = None
    recorded: float | None = None


class Driver:
    def __init__(self, up: Running, concurrency: int) -> None:
        self.up = up
        self.concurrency = concurrency
        self._slots: list[str] = []
        self._patients = 0
        # The PAYMENT stream's sequence up to which read_back has read PaymentConfirmed.
        self._confirmed_read = 0

    async def __aenter__(self) -> Driver:
        self._channel = grpc.aio.insecure_channel(self.up.stack.services["booking"].address)
        self._booking = booking_service_pb2_grpc.BookingServiceStub(self._channel)
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
        )
        self._db = {
            name: await asyncpg.create_pool(self.up.dsn(f"nobat_{name}"), min_size=1, max_size=2)
            for name in ("payment", "booking")
        }
        self._nats = await nats.connect(self.up.nats_url, name="bench")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.close()
        await self._channel.close()
        await self._nats.close()
        for pool in self._db.values():
            await close(pool)

    def _metadata(self, role: str, subject: str) -> tuple:
        token = self.up.stack.token(subject, role, ttl=3600)
        return (("authorization", f"Bearer {token}"),)

    async def open_slots(self, count: int) -> None:
        """Doctors open around the clock in 15-minute slots, enough for `count` checkouts."""
        admin = self._metadata("admin", "bench")
        wanted = -(-count // SLOTS_PER_DOCTOR)
        doctors = [f"bench-doctor-{uuid.uuid4().hex[:10]}" for _ in range(wanted)]
        await _bounded(8, (self._open_doctor(admin, doctor) for doctor in doctors))
        after = datetime.now(UTC) + timedelta(hours=2)
        request = bpb.ListSlotsRequest(status=bpb.SLOT_STATUS_FREE, page_size=SLOTS_PER_DOCTOR)
        request.starts_after.FromDatetime(after)
        for doctor in doctors:
            request.doctor_id = doctor
            reply = await self._booking.ListSlots(request, metadata=admin, timeout=CALL_TIMEOUT)
            self._slots += [slot.id for slot in reply.slots]
        if len(self._slots) < count:
            raise RuntimeError(f"only {len(self._slots)} free slots for {count} checkouts")

    async def _open_doctor(self, admin: tuple, doctor_id: str) -> None:
        await self._booking.CreateDoctor(
            bpb.CreateDoctorRequest(
                idempotency_key=uuid.uuid4().hex,
                doctor_id=doctor_id,
                display_name="Dr. Bench",
                specialty="general",
                time_zone="UTC",
                appointment_fee=money_pb2.Money(amount_minor=50_000, currency="USD"),
            ),
            metadata=admin,
            timeout=CALL_TIMEOUT,
        )
        last = (datetime.now(UTC) + timedelta(days=3)).date()
        await self._booking.SetWeeklyAvailability(
            bpb.SetWeeklyAvailabilityRequest(
                idempotency_key=uuid.uuid4().hex,
                doctor_id=doctor_id,
                windows=[
                    bpb.AvailabilityWindow(
                        day_of_week=day,
                        start_time=timeofday_pb2.TimeOfDay(hours=0),
                        end_time=timeofday_pb2.TimeOfDay(hours=24),
                    )
                    for day in range(dayofweek_pb2.MONDAY, dayofweek_pb2.SUNDAY + 1)
                ],
                slot_duration=duration_pb2.Duration(seconds=900),
                last_date=date_pb2.Date(year=last.year, month=last.month, day=last.day),
            ),
            metadata=admin,
            timeout=CALL_TIMEOUT,
        )

    async def checkouts(self, count: int) -> list[Flow]:
        """`count` patients each start a checkout on a slot of their own."""
        if len(self._slots) < count:
            await self.open_slots(count)
        slots, self._slots = self._slots[:count], self._slots[count:]
        return await _bounded(8, (self._checkout(slot) for slot in slots))

    async def _checkout(self, slot_id: str) -> Flow:
        self._patients += 1
        patient = self._metadata("patient", f"bench-patient-{self._patients}")
        reply = await self._booking.StartCheckout(
            bpb.StartCheckoutRequest(
                idempotency_key=uuid.uuid4().hex,
                slot_id=slot_id,
                method=checkout_pb2.PAYMENT_METHOD_GATEWAY,
            ),
            metadata=patient,
            timeout=CALL_TIMEOUT,
        )
        checkout = reply.checkout
        session = checkout.checkout_url.rstrip("/").rsplit("/", 1)[-1]
        return Flow(checkout.id, checkout.payment_id, session)

    async def press(self, flows: list[Flow], rate: float | None = None) -> None:
        """Pay on every flow's page: as fast as `concurrency` presses in flight allow, or
        open-loop at `rate` a second (a press is sent on time whatever the last one does)."""
        if rate is None:
            await _bounded(self.concurrency, (self._pay(flow) for flow in flows))
            return
        start = time.monotonic()
        pressing = []
        for index, flow in enumerate(flows):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pressing.append(asyncio.create_task(self._pay(flow)))
        await asyncio.gather(*pressing)

    async def _pay(self, flow: Flow) -> None:
        flow.pressed = time.time()
        sandbox = self.up.stack.sandbox
        assert sandbox is not None
        url = f"{sandbox.url}/_sandbox/checkout/{flow.session_id}/pay"
        async with self._http.post(url, json={}) as reply:
            if reply.status >= 300:
                raise RuntimeError(f"pay {flow.session_id}: {reply.status} {await reply.text()}")
            await reply.read()

    async def wait_recorded(self, flows: list[Flow], timeout: float) -> int:
        """Until every flow has its reservation, or `timeout`; how many have none. The
        commit instants are read here too."""
        by_checkout = {flow.checkout_id: flow for flow in flows}

        async def missing() -> int:
            rows = await self._db["booking"].fetch(
                "SELECT checkout_id, extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8"
                " AS at FROM reservations WHERE checkout_id = ANY($1::text[])",
                [f.checkout_id for f in flows if f.recorded is None],
            )
            for row in rows:
                by_checkout[row["checkout_id"]].recorded = row["at"]
            return sum(f.recorded is None for f in flows)

        return await _until(missing, timeout)

    async def wait_fulfilled(self, flows: list[Flow], timeout: float) -> int:
        """Until payment has heard that each was fulfilled (the end of a flow's work), or
        `timeout`; how many it has not."""
        ids = [flow.payment_id for flow in flows]

        async def missing() -> int:
            return await self._db["payment"].fetchval(
                "SELECT count(*) FROM payments WHERE id = ANY($1::text[]) AND fulfilled_at IS NULL",
                ids,
            )

        return await _until(missing, timeout)

    async def read_back(self, flows: list[Flow]) -> None:
        payments = [flow.payment_id for flow in flows]
        checkouts = [flow.checkout_id for flow in flows]
        by_payment = {flow.payment_id: flow for flow in flows}
        by_checkout = {flow.checkout_id: flow for flow in flows}
        pool = self._db["payment"]
        for row in await pool.fetch(
            "SELECT payment_id, extract(epoch FROM min(received_at))::float8 AS at"
            " FROM webhook_events WHERE payment_id = ANY($1::text[]) GROUP BY payment_id",
            payments,
        ):
            by_payment[row["payment_id"]].received = row["at"]
        for row in await pool.fetch(
            "SELECT payment_id, extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 AS at"
            " FROM payment_statuses WHERE payment_id = ANY($1::text[]) AND status = 'succeeded'",
            payments,
        ):
            by_payment[row["payment_id"]].settled = row["at"]
        # When JetStream stored each PaymentConfirmed (the outbox row's mark comes later,
        # with others'), on the same machine's clock; read on from where the round before
        # stopped, not again from the stream's start.
        js = self._nats.jetstream()
        waiting = set(checkouts)
        while waiting:
            try:
                msg = await js.get_msg(
                    PAYMENT.name, self._confirmed_read + 1, subject=CONFIRMED, next=True
                )
            except NotFoundError:
                break
            self._confirmed_read = msg.seq or self._confirmed_read + 1
            checkout_id = (msg.headers or {}).get("Nobat-Correlation-Id")
            if checkout_id in waiting and msg.time is not None:
                by_checkout[checkout_id].published = msg.time.timestamp()
                waiting.discard(checkout_id)

    async def write_transactions(self) -> int:
        """The server's transaction id counter: write transactions begun so far, in every
        database (reading it takes one)."""
        return int(await self._db["booking"].fetchval("SELECT pg_current_xact_id()::text"))

    async def jetstream(self) -> tuple[int, int, int]:
        """Messages in nobat's streams, deliveries to all their consumers so far (with any
        redeliveries), and the messages consumers have yet to take or to ack."""
        js = self._nats.jetstream()
        published = delivered = waiting = 0
        for stream in (PAYMENT, BOOKING, CONSULTATION):
            published += (await js.stream_info(stream.name)).state.messages or 0
            for consumer in await js.consumers_info(stream.name):
                delivered += consumer.delivered.consumer_seq if consumer.delivered else 0
                waiting += (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
        return published, delivered, waiting

    async def drain(self, timeout: float) -> int:
        """Until every consumer of every stream (notification's too) has taken and acked all
        it was sent, so that no round's work spills into the next; what is left."""

        async def missing() -> int:
            return (await self.jetstream())[2]

        return await _until(missing, timeout)

    async def checkpoint(self) -> None:
        """Flush what earlier rounds left dirty, so no round pays for another's writes."""
        await self._db["booking"].execute("CHECKPOINT")


async def close(pool: asyncpg.Pool) -> None:
    """Closes a pool, ending connections that a cancelled task left in a query."""
    try:
        await asyncio.wait_for(pool.close(), timeout=5)
    except TimeoutError:
        pool.terminate()


async def _bounded(limit: int, calls: Iterable[Awaitable[T]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return await asyncio.gather(*(one(call) for call in calls))


async def _until(missing: Callable[[], Awaitable[int]], timeout: float) -> int:
    """Polls `missing` until it is 0 or `timeout` passes; what it last said."""
    deadline = time.monotonic() + timeout
    while True:
        left = await missing()
        if not left or time.monotonic() > deadline:
            return left
        # Not faster: the instants are the commits' own (pg_xact_commit_timestamp), so a
        # poll only notices the end, and each one is PostgreSQL work the baseline, which
        # is told of its end, does not do yet the meter counts against nobat.
        await asyncio.sleep(1.0)
