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


def test_plain_http_webhooks_to_this_machine_only_in_development():
    assert address_problem(WEBHOOK, "http://127.0.0.1:8080/hook", development=True) == ""
    assert address_problem(WEBHOOK, "http://127.0.0.1:8080/hook")


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


def hooked(url: str = "https://hooks.clinic.example/nobat", **changes) -> Contact:
    return Contact.register(
        **{
            "user_id": "doctor-1",
            "locale": Locale.EN,
            "channels": (ContactChannel(EMAIL, "d@example.com"), ContactChannel(WEBHOOK, url)),
            "now": NOW,
            **changes,
        }
    )


def test_a_webhook_gets_a_secret_of_its_own():
    first, second = hooked(), hooked()
    assert first.signing_secret and second.signing_secret
    assert first.signing_secret != second.signing_secret
    assert first.signing_secret not in repr(first)


def test_a_contact_keeps_its_secret_while_it_keeps_a_webhook_whatever_its_url():
    first = hooked()
    moved = hooked("https://new-hooks.clinic.example/nobat", previous=first)
    assert moved.signing_secret == first.signing_secret


def test_a_contact_without_a_webhook_has_no_secret_and_a_webhook_added_again_gets_a_new_one():
    first = hooked()
    dropped = Contact.register(
        user_id="doctor-1",
        locale=Locale.EN,
        channels=(ContactChannel(EMAIL, "d@example.com"),),
        now=NOW,
        previous=first,
    )
    assert dropped.signing_secret == ""
    again = hooked(previous=dropped)
    assert again.signing_secret not in ("", first.signing_secret)
