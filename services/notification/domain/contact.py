"""Contacts: how to reach a user, and in which language. Notification is the only context
that keeps phone numbers and e-mail addresses.

Addresses are checked by channel when registered, so a delivery never meets one that could
not work: an e-mail address with a line break in it would be a header injection, a webhook
to plain http would send signed messages in the clear, one to an address inside the
clinic's network would reach what listens there (domain/webhooks.py).

A contact with a webhook has a signing secret of its own, so a receiver can tell its
notifications from anyone's forgery, and a secret given to one receiver forges nothing
for another. It lives as long as the contact keeps a webhook channel (whatever its URL):
registering without one drops it, and registering one again makes a new one.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from runtime.errors import InvalidArgument
from runtime.instants import require_utc
from services.notification.domain.webhooks import webhook_problem

MAX_EMAIL = 254
MAX_PUSH_TOKEN = 4096

# RFC 5321 limits and the dot-atom of RFC 5322, without quoted local parts or IP literals:
# what real mailboxes use, and nothing a mail header could be bent with.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
# APNs and FCM tokens: printable ASCII without spaces.
_PUSH_TOKEN = re.compile(rf"[\x21-\x7e]{{8,{MAX_PUSH_TOKEN}}}")


class Locale(Enum):
    FA = "fa"
    EN = "en"


class Channel(Enum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class ContactChannel:
    channel: Channel
    address: str
    # Disabled channels are kept but receive nothing.
    enabled: bool = True


def new_signing_secret() -> str:
    """256 random bits, as the receiver keys its HMAC with them."""
    return "nbwh_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Contact:
    user_id: str
    locale: Locale
    channels: tuple[ContactChannel, ...]
    updated_at: datetime
    # Keys the HMAC of every POST to the webhook; "" without a webhook channel.
    signing_secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        require_utc(self.updated_at, "updated_at")

    @classmethod
    def register(
        cls,
        *,
        user_id: str,
        locale: Locale,
        channels: tuple[ContactChannel, ...],
        now: datetime,
        previous: Contact | None = None,
        development: bool = False,
    ) -> Contact:
        """A contact whose every address can be used, replacing `previous`; anything else
        is InvalidArgument naming each bad entry as `channels[i].address` or
        `channels[i].channel`. A webhook keeps the previous contact's secret, or gets one."""
        violations = channel_violations(channels, development)
        if violations:
            raise InvalidArgument.many(violations)
        secret = ""
        if any(entry.channel is Channel.WEBHOOK for entry in channels):
            secret = (previous.signing_secret if previous else "") or new_signing_secret()
        return cls(user_id, locale, channels, now, secret)

    def reachable(self) -> tuple[ContactChannel, ...]:
        return tuple(channel for channel in self.channels if channel.enabled)


def masked(address: str) -> str:
    """Enough of an address to tell deliveries apart in a log, not enough to use it."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"{address[:4]}***{address[-2:]}" if len(address) > 8 else "***"


def channel_violations(
    channels: tuple[ContactChannel, ...], development: bool = False
) -> list[tuple[str, str]]:
    violations = []
    seen: set[Channel] = set()
    for index, entry in enumerate(channels):
        if entry.channel in seen:
            violations.append((f"channels[{index}].channel", "appears twice; one per channel"))
        seen.add(entry.channel)
        problem = address_problem(entry.channel, entry.address, development)
        if problem:
            violations.append((f"channels[{index}].address", problem))
    return violations


def address_problem(channel: Channel, address: str, development: bool = False) -> str:
    """Why `address` cannot be used for `channel`, or "" when it can; `development` lets
    a webhook use plain http and loopback."""
    if not address:
        return "is required"
    if channel is Channel.EMAIL:
        if len(address) > MAX_EMAIL:
            return f"must be at most {MAX_EMAIL} characters"
        if not _EMAIL.fullmatch(address) or len(address.split("@")[0]) > 64:
            return "is not an e-mail address, like name@example.com"
    elif channel is Channel.SMS:
        if not _PHONE.fullmatch(address):
            return "is not a phone number in E.164 form, like +989121234567"
    elif channel is Channel.PUSH:
        if len(address) > MAX_PUSH_TOKEN:
            return f"must be at most {MAX_PUSH_TOKEN} characters"
        if not _PUSH_TOKEN.fullmatch(address):
            return "is not a device push token (8 or more printable characters, no spaces)"
    elif channel is Channel.WEBHOOK:
        return webhook_problem(address, development=development)
    return ""
