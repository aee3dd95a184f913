"""How an event travels: its subject, its headers and its payload.

A subject names who states the fact and what it is: `nobat.<context>.v1.<Message>`, where
<context> is the publishing context and <Message> the payload's protobuf type, whose full
name travels in the Nobat-Event-Type header. Most events are a context's own messages
(`nobat.payment.v1.PaymentConfirmed`); the purchase outcomes are payment's messages stated
by the context that made the purchase (`nobat.booking.v1.PurchaseRejected`). Each context
has one stream capturing its subjects, and NATS lets only that context publish to them, so
the stream an event arrives on is its provenance.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from google.protobuf.message import Message

EVENT_ID = "Nats-Msg-Id"
EVENT_TYPE = "Nobat-Event-Type"
CORRELATION_ID = "Nobat-Correlation-Id"


@dataclass(frozen=True)
class Stream:
    """A context's event stream: the facts that context states, and nobody else may. Its
    publisher creates it; the services that read it bind to it once it exists."""

    name: str
    context: str

    @property
    def subjects(self) -> tuple[str, ...]:
        return (f"nobat.{self.context}.v1.>",)

    def subject_for(self, message_type: type[Message] | Message) -> str:
        return f"nobat.{self.context}.v1.{message_type.DESCRIPTOR.name}"


PAYMENT = Stream("PAYMENT", "payment")
BOOKING = Stream("BOOKING", "booking")
CONSULTATION = Stream("CONSULTATION", "consultation")


def envelope(message: Message, event_id: uuid.UUID, correlation_id: str, publisher: Stream) -> dict:
    """An outbox row for `message`, stated by the context that owns `publisher`."""
    event_type = message.DESCRIPTOR.full_name
    headers = {EVENT_ID: str(event_id), EVENT_TYPE: event_type}
    if correlation_id:
        headers[CORRELATION_ID] = correlation_id
    return {
        "event_id": event_id,
        "event_type": event_type,
        "subject": publisher.subject_for(message),
        "payload": message.SerializeToString(),
        "headers": headers,
    }
