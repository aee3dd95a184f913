"""Payment's news about a purchase names the purchase's kind in its subject, so each
purchasing context is delivered its own kind only: the others' never reach it. Events from
before subjects named kinds still reach every reader of their type, which passes over
another kind's."""

from __future__ import annotations

import asyncio
import uuid

from nats.js.client import JetStreamContext
from nobat.payment.v1 import events_pb2, payment_service_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.consumer import Concerning, EventConsumer
from runtime.db import UnitOfWork, sessionmaker
from runtime.events import EVENT_ID, EVENT_TYPE, Stream
from runtime.messaging import ensure_stream
from runtime.relay import OutboxRelay
from tests.processes import eventually

# A stream shaped like payment's, of its own.
NEWS = Stream("KINDS", "kinds", kind_in_subject=True)


def confirmed(kind: str, ref: str) -> events_pb2.PaymentConfirmed:
    purchase = payment_service_pb2.Purchase(kind=kind, ref=ref)
    return events_pb2.PaymentConfirmed(payment_id=f"payment-{ref}", purchase=purchase)


def refunded(kind: str, ref: str) -> events_pb2.PaymentRefunded:
    purchase = payment_service_pb2.Purchase(kind=kind, ref=ref)
    return events_pb2.PaymentRefunded(payment_id=f"payment-{ref}", purchase=purchase)


class Reader:
    """A context's consumer of NEWS: what it handled, by purchase ref."""

    def __init__(self, js: JetStreamContext, engine: AsyncEngine, name: str, handlers) -> None:
        self.handled: list[str] = []
        self.consumer = EventConsumer(
            js,
            name=name,
            stream=NEWS,
            handlers={t: h(self._handle) for t, h in handlers.items()},
            unit_of_work=lambda: UnitOfWork(sessionmaker(engine), None),
            fetch_timeout=0.2,
        )

    async def _handle(self, event, uow: UnitOfWork) -> None:
        self.handled.append(event.purchase.ref)

    async def delivered(self, js: JetStreamContext) -> int:
        info = await js.consumer_info(NEWS.name, self.consumer.name)
        assert info.num_ack_pending == 0 and info.num_pending == 0
        return info.delivered.consumer_seq


async def test_a_reader_is_delivered_its_own_kind_of_purchase_and_every_kind_it_reads_whole(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    await ensure_stream(js, NEWS, duplicate_window=120.0)
    booking = Reader(
        js,
        engine,
        "booking",
        {
            events_pb2.PaymentConfirmed: lambda h: Concerning.purchases_of("booking", h),
            events_pb2.PaymentRefunded: lambda h: h,
        },
    )
    # Written before subjects named kinds: on the bare subject, as the relay sent them then.
    for kind, ref in (("booking", "old-booking"), ("consultation", "old-consultation")):
        message = confirmed(kind, ref)
        await js.publish(
            NEWS.subject_for(message),
            message.SerializeToString(),
            headers={EVENT_ID: str(uuid.uuid4()), EVENT_TYPE: message.DESCRIPTOR.full_name},
        )
    uow = UnitOfWork(sessionmaker(engine), NEWS)
    async with uow:
        for kind in ("booking", "consultation", "wallet_topup"):
            uow.emit(confirmed(kind, f"new-{kind}"))
            uow.emit(refunded(kind, f"refund-{kind}"))
        await uow.commit()

    relay = OutboxRelay(engine, js, grace=0, poll_interval=0.1, mark_after=0.05)
    running = [asyncio.create_task(relay.run()), asyncio.create_task(booking.consumer.run())]
    try:

        async def all_handled() -> bool:
            return len(booking.handled) >= 5

        await eventually(all_handled, what="the booking reader's events")
        await asyncio.sleep(0.5)
        # Every refund, whatever its kind; of the confirmations, booking's only.
        assert sorted(booking.handled) == [
            "new-booking",
            "old-booking",
            "refund-booking",
            "refund-consultation",
            "refund-wallet_topup",
        ]
        # The old consultation's was delivered, to be passed over; the new ones of other
        # kinds never were.
        assert await booking.delivered(js) == 6
    finally:
        await booking.consumer.stop()
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    stored = await js.stream_info(NEWS.name, subjects_filter=">")
    assert set(stored.state.subjects or {}) == {
        "nobat.kinds.v1.PaymentConfirmed",
        "nobat.kinds.v1.PaymentConfirmed.booking",
        "nobat.kinds.v1.PaymentConfirmed.consultation",
        "nobat.kinds.v1.PaymentConfirmed.wallet_topup",
        "nobat.kinds.v1.PaymentRefunded.booking",
        "nobat.kinds.v1.PaymentRefunded.consultation",
        "nobat.kinds.v1.PaymentRefunded.wallet_topup",
    }
