"""How an event travels: its subject, its headers and its payload.

Subjects are the protobuf full names (`nobat.payment.v1.PaymentConfirmed`), so the
subject says which message type the payload is, and streams capture a context's events
with one wildcard (`nobat.payment.v1.>`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from google.protobuf.message import Message

EVENT_ID = "Nats-Msg-Id"
EVENT_TYPE = "Nobat-Event-Type"
CORRELATION_ID = "Nobat-Correlation-Id"


def subject_of(message_type: type[Message] | Message) -> str:
    return message_type.DESCRIPTOR.full_name


def envelope(message: Message, event_id: uuid.UUID, correlation_id: str) -> dict:
    """An outbox row for `message`."""
    subject = subject_of(message)
    headers = {EVENT_ID: str(event_id), EVENT_TYPE: subject}
    if correlation_id:
        headers[CORRELATION_ID] = correlation_id
    return {
        "event_id": event_id,
        "event_type": subject,
        "subject": subject,
        "payload": message.SerializeToString(),
        "headers": headers,
    }


@dataclass(frozen=True)
class Stream:
    """A context's event stream. Every service that publishes to or reads from it
    declares it the same way, so whichever starts first creates it."""

    name: str
    subjects: tuple[str, ...]


PAYMENT = Stream("PAYMENT", ("nobat.payment.v1.>",))
BOOKING = Stream("BOOKING", ("nobat.booking.v1.>",))
CONSULTATION = Stream("CONSULTATION", ("nobat.consultation.v1.>",))
