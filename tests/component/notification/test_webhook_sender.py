"""The webhook sender against a real receiver on this machine, with the names it looks up
answered by a stand-in resolver: it connects only to public addresses, to the very
address its one lookup checked, signs with the contact's own secret, and tells the user a
general reason while the log keeps which address refused."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from services.notification.adapters.senders import NOT_ALLOWED, UNREACHABLE, WebhookSender
from services.notification.domain.contact import Channel, Locale
from services.notification.domain.delivery import Delivery, DeliveryFailed
from services.notification.domain.facts import Kind
from services.notification.domain.notification import Notification
from tests.component.notification.harness import WebhookReceiver, signature_is_valid

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
SECRET = "nbwh_the_contacts_own"


class StandInResolver(AbstractResolver):
    """Answers each name with the addresses a test gives it, counting every lookup."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.answers[host.rstrip(".")]
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    receiving = WebhookReceiver()
    await receiving.start()
    yield receiving
    await receiving.stop()


def notification(user_id: str = "doctor-1") -> Notification:
    return Notification(
        id="notification-1",
        user_id=user_id,
        sequence=1,
        kind=Kind.RESERVATION_CONFIRMED,
        locale=Locale.EN,
        title="New appointment",
        body="A patient booked your appointment.",
        subject_id="reservation-1",
        created_at=NOW,
    )


def delivery(address: str, secret: str = SECRET) -> Delivery:
    sent = Delivery.create("delivery-1", "notification-1", Channel.WEBHOOK, address, NOW)
    sent.signing_secret = secret
    return sent


async def sent_by(sender: WebhookSender, address: str, secret: str = SECRET) -> None:
    try:
        await sender.send(delivery(address, secret), notification())
    finally:
        await sender.close()


async def test_a_name_that_resolves_inside_is_refused_at_connect_time_and_nothing_is_sent():
    resolver = StandInResolver({"hooks.clinic.example": ["10.0.0.5"]})
    sender = WebhookSender(2, resolver=resolver)
    with pytest.raises(DeliveryFailed) as failed:
        await sent_by(sender, "https://hooks.clinic.example/nobat")
    assert failed.value.reason == UNREACHABLE
    assert "refused" in failed.value.detail and "10.0.0.5" in failed.value.detail
    assert "10.0.0.5" not in failed.value.reason
    # Looked up as an absolute name, so no search domain of the cluster's applies.
    assert resolver.asked == ["hooks.clinic.example."]


@pytest.mark.parametrize(
    "inside",
    ["169.254.169.254", "fd00:ec2::254", "::ffff:127.0.0.1", "100.64.0.1", "127.0.0.1"],
)
async def test_one_address_inside_among_the_answers_refuses_the_name(inside):
    resolver = StandInResolver({"hooks.clinic.example": ["93.184.216.34", inside]})
    with pytest.raises(DeliveryFailed) as failed:
        await sent_by(WebhookSender(2, resolver=resolver), "https://hooks.clinic.example/")
    assert inside in failed.value.detail and failed.value.reason == UNREACHABLE


async def test_the_connection_goes_to_the_address_the_one_lookup_checked(receiver):
    """Development lets a name resolve to loopback, so a receiver here can stand for the
    internet: the POST arrives, though no real resolver knows the name."""
    resolver = StandInResolver({"receiver.clinic.example": ["127.0.0.1"]})
    sender = WebhookSender(2, development=True, resolver=resolver)
    await sent_by(sender, f"http://receiver.clinic.example:{receiver.port}/ok")
    [(path, headers, body)] = receiver.received
    assert path == "/ok" and headers["Host"] == f"receiver.clinic.example:{receiver.port}"
    assert resolver.asked == ["receiver.clinic.example."]
    assert signature_is_valid(headers, body, SECRET)
    assert not signature_is_valid(headers, body, "nbwh_someone_elses")


async def test_an_address_stored_before_the_rules_is_refused_before_any_connection(receiver):
    """127.0.0.1 in production, and a private address anywhere, never reach a resolver."""
    resolver = StandInResolver({})
    for sender, address in [
        (WebhookSender(2, resolver=resolver), f"https://127.0.0.1:{receiver.port}/ok"),
        (WebhookSender(2, development=True, resolver=resolver), "http://10.0.0.1/hook"),
        (WebhookSender(2, development=True, resolver=resolver), "http://0x7f000001/hook"),
    ]:
        with pytest.raises(DeliveryFailed) as failed:
            await sent_by(sender, address)
        assert (failed.value.reason, failed.value.permanent) == (NOT_ALLOWED, True)
    assert resolver.asked == [] and receiver.received == []


async def test_a_contact_without_a_secret_gets_nothing_unsigned(receiver):
    with pytest.raises(DeliveryFailed) as failed:
        await sent_by(
            WebhookSender(2, development=True), f"http://127.0.0.1:{receiver.port}/ok", secret=""
        )
    assert failed.value.permanent and "register" in failed.value.reason
    assert receiver.received == []


async def test_a_receiver_that_cannot_be_reached_is_a_general_reason_to_the_user():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(DeliveryFailed) as failed:
        await sent_by(WebhookSender(2, development=True), f"http://127.0.0.1:{port}/hook")
    assert failed.value.reason == UNREACHABLE and not failed.value.permanent
    assert str(port) in failed.value.detail and str(port) not in failed.value.reason
