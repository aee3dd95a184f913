"""The payment service as a real process against real PostgreSQL, NATS and the sandbox
gateway, with what its tests need to drive and watch it: a gRPC client per caller, the
events it publishes, and its database."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import grpc
import nats
from google.protobuf.message import Message
from nats.js.errors import NotFoundError
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.payment.v1 import events_pb2, payment_service_pb2_grpc
from nobat.payment.v1 import payment_service_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.events import BOOKING, CONSULTATION, EVENT_ID, EVENT_TYPE, PAYMENT, Stream
from stack.identity import Identities
from stack.local import LOCAL_APP
from tests.processes import ServiceUnderTest, eventually

SERVICE = "nobat.payment.v1.PaymentService"
EVENT_TYPES = {
    message.DESCRIPTOR.full_name: message
    for message in (
        events_pb2.PaymentConfirmed,
        events_pb2.PaymentFailed,
        events_pb2.PaymentExpired,
        events_pb2.PaymentRefunded,
        events_pb2.PayoutReleased,
        events_pb2.PurchaseRejected,
        events_pb2.RefundRequested,
        events_pb2.PurchaseFulfilled,
    )
}


def usd(amount_minor: int, currency: str = "USD") -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)


def key() -> str:
    return uuid.uuid4().hex


@dataclass
class PaymentUnderTest:
    process: ServiceUnderTest
    identities: Identities
    engine: AsyncEngine
    webhook_url: str
    metrics_port: int
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def api(self, role: str = "service", subject: str = "booking") -> PaymentApi:
        token = self.identities.token(subject, role, to="payment")
        channel = grpc.aio.insecure_channel(self.process.address)
        self.channels.append(channel)
        return PaymentApi(
            payment_service_pb2_grpc.PaymentServiceStub(channel),
            (("authorization", f"Bearer {token}"),),
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()

    async def rows(self, sql: str, **params: object) -> list:
        async with self.engine.connect() as conn:
            return list(await conn.execute(text(sql), params))

    async def count(self, table: str) -> int:
        return (await self.rows(f"SELECT count(*) FROM {table}"))[0][0]

    async def unbalanced_ledger_transactions(self) -> list:
        return await self.rows(
            "SELECT transaction_id, currency, sum(amount_minor) FROM ledger_entries"
            " GROUP BY transaction_id, currency HAVING sum(amount_minor) <> 0"
        )


@dataclass
class PaymentApi:
    stub: payment_service_pb2_grpc.PaymentServiceStub
    metadata: tuple

    def __getattr__(self, name: str):
        method = getattr(self.stub, name)

        async def call(request: Message, **kwargs):
            return await method(request, metadata=self.metadata, timeout=15, **kwargs)

        return call

    async def create(
        self,
        *,
        patient: str = "patient-1",
        amount: int = 10_000,
        currency: str = "USD",
        doctor: str = "doctor-1",
        method: int = checkout_pb2.PAYMENT_METHOD_GATEWAY,
        expires_in: timedelta | None = None,
        ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> pb.Payment:
        """A booking-like purchase: the whole amount for one doctor."""
        request = pb.CreatePaymentRequest(
            idempotency_key=idempotency_key or key(),
            purchase=pb.Purchase(kind="booking", ref=ref or key()),
            patient_id=patient,
            amount=usd(amount, currency),
            lines=[
                pb.PayeeLine(
                    payee_kind=pb.PAYEE_KIND_DOCTOR,
                    payee_id=doctor,
                    amount=usd(amount, currency),
                    description="Appointment",
                )
            ],
            method=method,
            return_url=f"{LOCAL_APP}/return",
            description="Appointment with Dr. One",
        )
        if expires_in is not None:
            request.expires_at.FromDatetime(datetime.now(UTC) + expires_in)
        return (await self.CreatePayment(request)).payment

    async def get(self, payment_id: str) -> pb.Payment:
        return (await self.GetPayment(pb.GetPaymentRequest(payment_id=payment_id))).payment

    async def until(self, payment_id: str, *statuses: int, timeout: float = 20) -> pb.Payment:
        found: list[pb.Payment] = []

        async def reached() -> bool:
            found[:] = [await self.get(payment_id)]
            return found[0].status in statuses

        await eventually(reached, timeout, f"payment {payment_id} in {statuses}")
        return found[0]


class EventLog:
    """Every event on the PAYMENT stream since the test began, by type."""

    def __init__(self) -> None:
        self.by_type: dict[type[Message], list[Message]] = defaultdict(list)
        self._sub = None

    async def start(self, js) -> None:
        async def collect(msg) -> None:
            message_type = EVENT_TYPES.get(msg.headers.get(EVENT_TYPE, ""))
            if message_type is not None:
                self.by_type[message_type].append(message_type.FromString(msg.data))
            await msg.ack()

        self._sub = await js.subscribe("nobat.payment.v1.>", cb=collect, ordered_consumer=True)

    def of(self, message_type: type[Message], payment_id: str | None = None) -> list:
        return [
            e
            for e in self.by_type[message_type]
            if payment_id is None or e.payment_id == payment_id
        ]

    async def wait_for(
        self, message_type: type[Message], payment_id: str, count: int = 1, timeout: float = 20
    ) -> list:
        async def arrived() -> bool:
            return len(self.of(message_type, payment_id)) >= count

        await eventually(arrived, timeout, f"{count} {message_type.__name__} of {payment_id}")
        return self.of(message_type, payment_id)


async def publish_as(js, publisher: Stream, message: Message, event_id: str = "") -> str:
    """`message` stated on `publisher`'s stream, as that context's outbox relay would; the
    event id."""
    event_id = event_id or str(uuid.uuid4())
    await js.publish(
        publisher.subject_of(message),
        message.SerializeToString(),
        headers={EVENT_ID: event_id, EVENT_TYPE: message.DESCRIPTOR.full_name},
    )
    return event_id


@contextlib.asynccontextmanager
async def payment_stream(nats_url: str) -> AsyncIterator[tuple[object, EventLog]]:
    """A JetStream client on empty streams, payment's and the purchasing contexts' it
    reads, and a log of what payment publishes."""

    async def quiet(exc: Exception) -> None:
        pass

    nc = await nats.connect(nats_url, error_cb=quiet, max_reconnect_attempts=-1)
    js = nc.jetstream()
    for stream in (PAYMENT, BOOKING, CONSULTATION):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream.name)
        await js.add_stream(name=stream.name, subjects=list(stream.subjects))
    log = EventLog()
    await log.start(js)
    try:
        yield js, log
    finally:
        await asyncio.wait_for(nc.close(), 5)


class SandboxControl:
    """The sandbox gateway's control API: what a patient does on the hosted page, and the
    switches that make the gateway misbehave."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def _post(self, path: str, body: dict | None = None) -> dict:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/_sandbox/{path}", json=body or {}) as reply,
        ):
            assert reply.status < 300, f"{path}: {reply.status} {await reply.text()}"
            return await reply.json()

    async def _get(self, path: str) -> dict:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/_sandbox/{path}") as reply,
        ):
            assert reply.status < 300, f"{path}: {reply.status} {await reply.text()}"
            return await reply.json()

    async def pay(self, session_id: str) -> dict:
        return await self._post(f"checkout/{session_id}/pay")

    async def decline(self, session_id: str, code: str = "card_declined") -> dict:
        return await self._post(f"checkout/{session_id}/decline", {"decline_code": code})

    async def cancel(self, session_id: str) -> dict:
        return await self._post(f"checkout/{session_id}/cancel")

    async def dispute(self, session_id: str, **options: object) -> dict:
        """The patient's bank disputes the session's charge (`reason`, `inquiry`)."""
        return await self._post(f"checkout/{session_id}/dispute", options)

    async def close_dispute(self, dispute_id: str, outcome: str) -> dict:
        return await self._post(f"disputes/{dispute_id}/close", {"outcome": outcome})

    async def warn_of_fraud(self, session_id: str) -> dict:
        """The gateway's early fraud warning about the session's charge."""
        return await self._post(f"checkout/{session_id}/fraud_warning")

    async def pay_later(self, session_id: str) -> dict:
        """Pay by bank debit: the session completes unpaid until `settle`."""
        return await self._post(f"checkout/{session_id}/pay_later")

    async def settle(self, session_id: str, outcome: str = "succeeded") -> dict:
        """The bank settles a bank debit: "succeeded" or "failed"."""
        return await self._post(f"checkout/{session_id}/settle", {"outcome": outcome})

    async def challenge(self, session_id: str) -> dict:
        """Pay with a card that asks for 3-D Secure: the challenge waits for `authenticate`."""
        return await self._post(f"checkout/{session_id}/challenge")

    async def authenticate(self, session_id: str, passed: bool = True) -> dict:
        return await self._post(f"checkout/{session_id}/authenticate", {"passed": passed})

    async def resend(self, session_id: str) -> dict:
        """The session's webhooks delivered again, as the gateway's dashboard does."""
        return await self._post(f"webhooks/resend/{session_id}")

    async def switches(self, **switches: object) -> dict:
        return await self._post("switches", switches)

    async def reset(self) -> dict:
        return await self._post("reset")

    async def stats(self) -> dict:
        return await self._get("stats")

    async def session(self, session_id: str) -> dict:
        return await self._get(f"sessions/{session_id}")


def signed_event(payment: pb.Payment, forgery: str, secret: str) -> tuple[bytes, str]:
    """A checkout.session.completed event for the payment's session, signed the way a
    forger would: with the wrong secret, too long ago, not at all, or over garbage."""
    session_id = payment.attempts[-1].gateway_ref
    event = {
        "id": f"evt_forged_{uuid.uuid4().hex}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "status": "complete",
                "payment_status": "paid",
                "amount_total": payment.amount.amount_minor,
                "currency": payment.amount.currency.lower(),
                "metadata": {"payment_id": payment.id},
            }
        },
    }
    body = json.dumps(event).encode()
    signed_at = int(time.time())
    if forgery == "wrong_secret":
        secret = "whsec_not_the_one"
    elif forgery == "stale":
        signed_at -= 301
    elif forgery == "unsigned":
        return body, ""
    elif forgery == "garbage":
        body = b"not json at all"
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + body, hashlib.sha256)
    return body, f"t={signed_at},v1={digest.hexdigest()}"
