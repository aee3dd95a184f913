"""Contacts hold only addresses their channel can use, one per channel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runtime.errors import InvalidArgument
from services.notification.domain.contact import (
    Channel,
    Contact,
    ContactChannel,
    Locale,
    address_problem,
)

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
EMAIL, SMS, PUSH, WEBHOOK = Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.WEBHOOK


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        (EMAIL, "sara.ahmadi+nobat@mail.example.ir"),
        (SMS, "+989121234567"),
        (PUSH, "fcm:APA91bH-abc_123"),
        (WEBHOOK, "https://clinic.example.com/hooks/nobat?tenant=7"),
    ],
)
def test_a_usable_address_passes(channel, address):
    assert address_problem(channel, address) == ""


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        (EMAIL, ""),
        (EMAIL, "sara"),
        (EMAIL, "sara@localhost"),
        (EMAIL, "sara@example.com\nBcc: everyone@example.com"),
        (EMAIL, "a" * 65 + "@example.com"),
        (EMAIL, "a@" + "b" * 250 + ".com"),
        (SMS, "09121234567"),
        (SMS, "+0989121234567"),
        (SMS, "+98 912 123 4567"),
        (SMS, "+1234567890123456"),
        (PUSH, "short"),
        (PUSH, "has spaces in it"),
        (PUSH, "x" * 4097),
        (WEBHOOK, "http://clinic.example.com/hook"),
        (WEBHOOK, "https://"),
        (WEBHOOK, "https://user:secret@clinic.example.com/hook"),
        (WEBHOOK, "https://clinic.example.com/hook#part"),
        (WEBHOOK, "https://clinic.example.com:99999/hook"),
        (WEBHOOK, "https://clinic.example.com/" + "x" * 2048),
    ],
)
def test_an_unusable_address_is_named(channel, address):
    assert address_problem(channel, address)


def test_plain_http_webhooks_only_when_allowed():
    assert address_problem(WEBHOOK, "http://127.0.0.1:8080/hook", allow_http_webhooks=True) == ""


def test_registering_names_every_bad_entry():
    with pytest.raises(InvalidArgument) as refused:
        Contact.register(
            user_id="patient-1",
            locale=Locale.FA,
            channels=(
                ContactChannel(EMAIL, "nope"),
                ContactChannel(SMS, "+989121234567"),
                ContactChannel(SMS, "+989121234568"),
            ),
            now=NOW,
        )
    assert [field for field, _ in refused.value.violations] == [
        "channels[0].address",
        "channels[2].channel",
    ]


def test_only_enabled_channels_are_reachable():
    contact = Contact.register(
        user_id="patient-1",
        locale=Locale.EN,
        channels=(
            ContactChannel(EMAIL, "a@example.com", False),
            ContactChannel(SMS, "+15551234567"),
        ),
        now=NOW,
    )
    assert [c.channel for c in contact.reachable()] == [SMS]
