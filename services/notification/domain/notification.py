"""The notifications facts become.

Each recipient of a fact gets one notification in their inbox, rendered in their language when it
is created, and one delivery per channel they can be reached on.

Ids are derived, not drawn: a notification's from the fact's own key, the recipient and
their role in it; a delivery's from its notification and channel. The same fact arriving
twice (a redelivered event, or the same news re-published under a new event id) names
rows that already exist, and the primary keys make the second a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from runtime import ids
from runtime.instants import require_utc
from services.notification.domain.contact import Channel, Contact, ContactChannel, Locale
from services.notification.domain.delivery import Delivery
from services.notification.domain.facts import Fact, Kind, Phrase, Recipient, Value
from services.notification.domain.templates import render

_NOTIFICATION_IDS = ids.namespace("notification")


@dataclass(frozen=True)
class DoctorListing:
    """What booking's directory says about a doctor, as far as notifications need it."""

    doctor_id: str
    display_name: str
    time_zone: str
    updated_at: datetime

    def __post_init__(self) -> None:
        require_utc(self.updated_at, "updated_at")

    @property
    def zone(self) -> ZoneInfo | None:
        try:
            return ZoneInfo(self.time_zone)
        except (ValueError, KeyError):
            return None


@dataclass(frozen=True)
class Addressees:
    """What composing a fact's notifications needs, read at once under the recipients'
    feed locks: each recipient's last sequence and contact (when they registered one),
    the doctor's listing, and which of the fact's notifications exist already."""

    last_sequences: Mapping[str, int]
    contacts: Mapping[str, Contact]
    doctor: DoctorListing | None
    notified: frozenset[str]


def derived_id(*parts: object) -> str:
    return ids.derived_id(_NOTIFICATION_IDS, *parts)


def notification_id(fact_key: tuple[str, ...], recipient: Recipient) -> str:
    """The fact's key parts go in one by one: when none holds "/" or "%" the name is the
    one the key joined by "/" gave, so a fact notified before and published again later
    still names the notification it made then (runtime.ids)."""
    return derived_id("notification", *fact_key, recipient.user_id, recipient.audience.value)


def delivery_id(notification_id: str, channel: Channel) -> str:
    return derived_id("delivery", notification_id, channel.value)


@dataclass
class Notification:
    id: str
    user_id: str
    # 1, 2, 3, … per user without gaps: the feed's order and a live stream's resume point.
    sequence: int
    kind: Kind
    locale: Locale
    title: str
    body: str
    subject_id: str
    created_at: datetime
    read_at: datetime | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        require_utc(self.created_at, "created_at")
        if self.sequence < 1:
            raise ValueError("sequences start at 1")


def compose(
    fact: Fact,
    recipient: Recipient,
    *,
    locale: Locale,
    sequence: int,
    channels: tuple[ContactChannel, ...],
    doctor: DoctorListing | None,
    default_zone: ZoneInfo,
    now: datetime,
    derived: str | None = None,
) -> Notification:
    """The recipient's notification of `fact`, rendered in their locale, with a pending
    delivery for each channel they can be reached on. `derived`: its id, when the caller
    has derived it already (notify, to find the notifications made before)."""
    details: dict[str, Value] = dict(fact.details)
    if fact.doctor_id:
        details.setdefault("doctor", doctor.display_name if doctor else Phrase("your_doctor"))
    zone = (doctor.zone if doctor else None) or default_zone
    title, body = render(fact.kind, recipient.audience, locale, details, zone)
    nid = derived or notification_id(fact.key, recipient)
    return Notification(
        id=nid,
        user_id=recipient.user_id,
        sequence=sequence,
        kind=fact.kind,
        locale=locale,
        title=title,
        body=body,
        subject_id=fact.subject_id,
        created_at=now,
        deliveries=[
            Delivery.create(delivery_id(nid, entry.channel), nid, entry.channel, entry.address, now)
            for entry in channels
            if entry.enabled
        ],
    )
