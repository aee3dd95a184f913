"""Webhooks through the notification process: each contact's own signing secret, shown to
its owner once; a receiver that cannot be reached, and an address inside the network
stored before today's rules, read to the user as a general reason, with the detail in the
service's log only."""

from __future__ import annotations

import json
import socket

from nobat.notification.v1 import notification_service_pb2 as pb
from sqlalchemy import text

from services.notification.adapters.senders import NOT_ALLOWED, UNREACHABLE
from tests.component.notification.harness import inbox_until, key, signature_is_valid, user
from tests.processes import eventually
from tests.unit.notification import events

WEBHOOK = pb.CHANNEL_WEBHOOK
DEAD = pb.DELIVERY_STATUS_DEAD_LETTERED


def hooked(url: str, locale: int = pb.LOCALE_EN) -> pb.RegisterContactRequest:
    return pb.RegisterContactRequest(
        idempotency_key=key(),
        locale=locale,
        channels=[pb.ContactChannel(channel=WEBHOOK, address=url, enabled=True)],
    )


async def test_each_contacts_webhook_is_signed_with_a_secret_of_its_own_shown_once(
    notification, webhooks
):
    first, second = user("doctor"), user("doctor")
    made = {}
    for doctor in (first, second):
        api = notification.api(doctor, "doctor")
        answer = await api.RegisterContact(hooked(webhooks.url("/ok")))
        made[doctor] = answer.webhook_signing_secret
        # Registering again keeps the secret, and does not show it again.
        again = await api.RegisterContact(hooked(webhooks.url("/ok"), pb.LOCALE_FA))
        assert again.webhook_signing_secret == ""
        shown = await api.GetContact(pb.GetContactRequest())
        assert made[doctor] not in str(shown)
    assert all(made.values()) and made[first] != made[second]

    for doctor in (first, second):
        await notification.publish(events.payout_released(doctor))
    for doctor in (first, second):
        await inbox_until(notification.api(doctor, "doctor"), 1, settled=True)
        [(headers, _)] = webhooks.posts("/ok", doctor)
        [raw] = [body for _, h, body in webhooks.received if h is headers]
        other = made[second if doctor == first else first]
        assert signature_is_valid(headers, raw, made[doctor])
        assert not signature_is_valid(headers, raw, other)


async def test_an_unreachable_webhook_tells_the_user_a_general_reason_and_the_log_the_detail(
    notification,
):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    patient = user()
    await notification.api(patient).RegisterContact(hooked(f"http://127.0.0.1:{port}/hook"))
    await notification.publish(events.payment_failed(patient))

    [told] = await inbox_until(notification.api(patient), 1, settled=True, timeout=20)
    [delivery] = told.deliveries
    assert (delivery.status, delivery.last_error) == (DEAD, UNREACHABLE)
    assert str(port) not in str(told)

    async def logged() -> bool:
        return f"port={port}" in notification.process.log()

    await eventually(logged, 10, "the unreachable address in the service's log")


async def test_a_webhook_inside_the_network_stored_before_the_rules_is_never_posted(
    notification,
):
    """A contact registered while any address was accepted: its deliveries are refused
    before any connection, once, and the user reads that the address is not allowed."""
    patient = user()
    await notification.api(patient).RegisterContact(hooked("https://hooks.clinic.example/x"))
    inside = "https://169.254.169.254/latest/meta-data/"
    channels = json.dumps([{"channel": "webhook", "address": inside, "enabled": True}])
    async with notification.engine.begin() as conn:
        await conn.execute(
            text("UPDATE contacts SET channels = CAST(:channels AS jsonb) WHERE user_id = :user"),
            {"channels": channels, "user": patient},
        )
    await notification.publish(events.payment_failed(patient))

    [told] = await inbox_until(notification.api(patient), 1, settled=True)
    [delivery] = told.deliveries
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DEAD, 1, NOT_ALLOWED)
    assert "169.254.169.254" not in delivery.last_error
