"""Contacts: how to reach a user, and in which language. Notification is the only context
that keeps phone numbers and e-mail addresses.

Addresses are checked by channel when registered, so a delivery never meets one that could
not work: an e-mail address with a line break in it would be a header injection, a webhook
to plain http would send signed messages in the clear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from urllib.parse import urlsplit

from runtime.errors import InvalidArgument
from runtime.instants import require_utc

MAX_EMAIL = 254
MAX_URL = 2048
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


@dataclass(frozen=True)
class Contact:
    user_id: str
    locale: Locale
    channels: tuple[ContactChannel, ...]
    updated_at: datetime

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
        allow_http_webhooks: bool = False,
    ) -> Contact:
        """A contact whose every address can be used; anything else is InvalidArgument
        naming each bad entry as `channels[i].address` or `channels[i].channel`."""
        violations = channel_violations(channels, allow_http_webhooks)
        if violations:
            raise InvalidArgument.many(violations)
        return cls(user_id, locale, channels, now)

    def reachable(self) -> tuple[ContactChannel, ...]:
        return tuple(channel for channel in self.channels if channel.enabled)


def channel_violations(
    channels: tuple[ContactChannel, ...], allow_http_webhooks: bool = False
) -> list[tuple[str, str]]:
    violations = []
    seen: set[Channel] = set()
    for index, entry in enumerate(channels):
        if entry.channel in seen:
            violations.append((f"channels[{index}].channel", "appears twice; one per channel"))
        seen.add(entry.channel)
        problem = address_problem(entry.channel, entry.address, allow_http_webhooks)
        if problem:
            violations.append((f"channels[{index}].address", problem))
    return violations


def address_problem(channel: Channel, address: str, allow_http_webhooks: bool = False) -> str:
    """Why `address` cannot be used for `channel`, or "" when it can."""
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
        return _webhook_problem(address, allow_http_webhooks)
    return ""


def _webhook_problem(address: str, allow_http: bool) -> str:
    if len(address) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    schemes = ("https", "http") if allow_http else ("https",)
    try:
        url = urlsplit(address)
        url.port  # noqa: B018 (parses the port, raising ValueError when it is not one)
    except ValueError:
        return "is not a URL"
    if url.scheme not in schemes or not url.hostname:
        return "must be an https URL, like https://example.com/hooks/nobat"
    if url.username is not None or url.password is not None or url.fragment:
        return "must not carry credentials or a fragment"
    if any(char.isspace() or ord(char) < 0x20 for char in address):
        return "must not contain spaces or control characters"
    return ""
