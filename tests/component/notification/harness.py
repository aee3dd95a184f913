"""The notification service as a real process against real PostgreSQL and NATS, with what
its tests need around it: a mail server that accepts or refuses, a webhook receiver that
answers 200 or 500, publishing other contexts' events, and a gRPC client per user."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import grpc
from aiohttp import web
from aiosmtpd.controller import Controller
from google.protobuf.message import Message
from nats.js.client import JetStreamContext
from nobat.notification.v1 import notification_service_pb2 as pb
from nobat.notification.v1 import notification_service_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.events import BOOKING, CONSULTATION, PAYMENT
from stack.identity import Identities
from stack.ports import free_port
from tests.component.payment.harness import PaymentApi, publish_as
from tests.processes import ServiceUnderTest, eventually

# Mail to this domain is refused with a temporary error, as by a server that is busy.
REFUSING_DOMAIN = "refusing.example"
TERMINAL = (pb.DELIVERY_STATUS_DELIVERED, pb.DELIVERY_STATUS_DEAD_LETTERED)


def key() -> str:
    return uuid.uuid4().hex


def user(role: str = "patient") -> str:
    return f"{role}-{key()[:10]}"


class Mailbox:
    """A local SMTP server (aiosmtpd, in a thread of its own) keeping what it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address.endswith("@" + REFUSING_DOMAIN):
            with self._lock:
                self.refused += 1
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    @property
    def settings(self) -> dict[str, str]:
        """The notification service's settings that send its e-mail here, in plaintext."""
        return {
            "NOBAT_NOTIFICATION_SMTP_HOST": "127.0.0.1",
            "NOBAT_NOTIFICATION_SMTP_PORT": str(self.port),
            "NOBAT_NOTIFICATION_SMTP_STARTTLS": "false",
        }

    @contextlib.contextmanager
    def running(self) -> Iterator[Mailbox]:
        self._controller.start()
        try:
            yield self
        finally:
            self._controller.stop()


@dataclass
class WebhookReceiver:
    """Receives signed POSTs at /ok (answers 200) and /fail (answers 500)."""

    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def receive(request: web.Request) -> web.Response:
            self.received.append((request.path, dict(request.headers), await request.read()))
            return web.Response(status=200 if request.path == "/ok" else 500)

        app = web.Application()
        app.router.add_post("/ok", receive)
        app.router.add_post("/fail", receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posts(self, path: str, user_id: str) -> list[tuple[dict[str, str], dict]]:
        found = []
        for where, headers, body in self.received:
            payload = json.loads(body)
            if where == path and payload["user_id"] == user_id:
                found.append((headers, payload))
        return found


def signature_is_valid(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """The receiver's side of Nobat-Signature: t=…,v1=HMAC-SHA256("{t}.{body}")."""
    parts = dict(part.split("=", 1) for part in headers["Nobat-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


@dataclass
class NotificationUnderTest:
    process: ServiceUnderTest
    identities: Identities
    engine: AsyncEngine
    js: JetStreamContext
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def api(self, subject: str, role: str = "patient") -> PaymentApi:
        """Unary calls of NotificationService as `subject` (any stub binds the same way)."""
        return PaymentApi(self.stub(), self.metadata(subject, role))

    def stub(self) -> notification_service_pb2_grpc.NotificationServiceStub:
        channel = grpc.aio.insecure_channel(self.process.address)
        self.channels.append(channel)
        return notification_service_pb2_grpc.NotificationServiceStub(channel)

    def metadata(self, subject: str, role: str = "patient") -> tuple:
        token = self.identities.token(subject, role, to="notification")
        return (("authorization", f"Bearer {token}"),)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()

    async def publish(self, event: Message, event_id: str | None = None) -> str:
        """Publishes `event` the way the context whose message it is would."""
        context = event.DESCRIPTOR.full_name.split(".")[1]
        [publisher] = [s for s in (PAYMENT, BOOKING, CONSULTATION) if s.context == context]
        return await publish_as(self.js, publisher, event, event_id or "")

    async def rows(self, sql: str, **params: object) -> list:
        async with self.engine.connect() as conn:
            return list(await conn.execute(text(sql), params))


async def inbox(api: PaymentApi, **request: object) -> list[pb.Notification]:
    reply = await api.ListNotifications(pb.ListNotificationsRequest(page_size=100, **request))
    return list(reply.notifications)


async def inbox_until(
    api: PaymentApi, count: int, *, settled: bool = False, timeout: float = 15
) -> list[pb.Notification]:
    """The inbox (oldest first) once it holds `count` notifications and, when `settled`,
    every delivery of theirs is delivered or dead-lettered."""
    found: list[pb.Notification] = []

    async def ready() -> bool:
        found[:] = reversed(await inbox(api))
        if len(found) < count:
            return False
        return not settled or all(d.status in TERMINAL for n in found for d in n.deliveries)

    await eventually(ready, timeout, f"{count} notifications{' settled' if settled else ''}")
    return found


async def next_of(stream, timeout: float = 10) -> pb.Notification:
    reply = await asyncio.wait_for(stream.read(), timeout)
    assert reply is not grpc.aio.EOF, "the stream ended"
    return reply.notification
