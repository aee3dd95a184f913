"""The translation between notification's protos and its domain, for the gRPC servicer.
Nothing is decided here; bad values are named by their proto field, so a caller sees
INVALID_ARGUMENT on the right one. Enums are paired by name and checked at import."""

from __future__ import annotations

from collections.abc import Sequence

from nobat.notification.v1 import notification_service_pb2 as pb

from runtime.wire import enum_pair, optional_timestamp, timestamp
from services.notification.domain.contact import Channel, Contact, ContactChannel, Locale
from services.notification.domain.delivery import Delivery, DeliveryStatus
from services.notification.domain.facts import Kind
from services.notification.domain.notification import Notification

_LOCALES = enum_pair(Locale, pb.Locale, "LOCALE_")
_CHANNELS = enum_pair(Channel, pb.Channel, "CHANNEL_")
_KINDS = enum_pair(Kind, pb.NotificationKind, "NOTIFICATION_KIND_")
_STATUSES = enum_pair(DeliveryStatus, pb.DeliveryStatus, "DELIVERY_STATUS_")


def locale_from(value: int, field: str = "locale") -> Locale:
    return _LOCALES.required(value, field)


def channels_from(
    given: Sequence[pb.ContactChannel], field: str = "channels"
) -> tuple[ContactChannel, ...]:
    """The channels as given; their addresses are the domain's to judge."""
    return tuple(
        ContactChannel(
            _CHANNELS.required(entry.channel, f"{field}[{index}].channel"),
            entry.address,
            entry.enabled,
        )
        for index, entry in enumerate(given)
    )


def contact_message(contact: Contact) -> pb.Contact:
    return pb.Contact(
        user_id=contact.user_id,
        locale=_LOCALES.to_proto[contact.locale],
        channels=[
            pb.ContactChannel(
                channel=_CHANNELS.to_proto[entry.channel],
                address=entry.address,
                enabled=entry.enabled,
            )
            for entry in contact.channels
        ],
        updated_at=timestamp(contact.updated_at),
    )


def delivery_message(delivery: Delivery) -> pb.Delivery:
    return pb.Delivery(
        channel=_CHANNELS.to_proto[delivery.channel],
        status=_STATUSES.to_proto[delivery.status],
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        next_attempt_at=optional_timestamp(delivery.next_attempt_at),
        delivered_at=optional_timestamp(delivery.delivered_at),
    )


def notification_message(notification: Notification) -> pb.Notification:
    return pb.Notification(
        id=notification.id,
        user_id=notification.user_id,
        sequence=notification.sequence,
        kind=_KINDS.to_proto[notification.kind],
        locale=_LOCALES.to_proto[notification.locale],
        title=notification.title,
        body=notification.body,
        subject_id=notification.subject_id,
        created_at=timestamp(notification.created_at),
        read_at=optional_timestamp(notification.read_at),
        deliveries=[delivery_message(d) for d in notification.deliveries],
    )
