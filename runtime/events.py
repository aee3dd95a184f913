"""How an event travels: its subject, its headers and its payload.

A subject names who states the fact and what it is: `nobat.<context>.v1.<Message>`, where
<context> is the publishing context and <Message> the payload's protobuf type, whose full
name travels in the Nobat-Event-Type header. Most events are a context's own messages
(`nobat.payment.v1.PaymentConfirmed`); the purchase outcomes are payment's messages stated
by the context that made the purchase (`nobat.booking.v1.PurchaseRejected`). Each context
has one stream capturing its subjects, and NATS lets only that context publish to them, so
the stream an event arrives on is its provenance.

Payment's news about a purchase is read by the context that sold it, and by no other: its
subject ends in the purchase's kind (`nobat.payment.v1.PaymentConfirmed.booking`), so that
each context's consumer asks NATS for its own kind and is never handed another's.
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
    # Whether an event about a purchase names the purchase's kind as its subject's last
    # token: payment's news, which each purchasing context reads only of its own kind.
    kind_in_subject: bool = False

    @property
    def subjects(self) -> tuple[str, ...]:
        return (f"nobat.{self.context}.v1.>",)

    def subject_for(self, message_type: type[Message] | Message, kind: str = "") -> str:
        """The subject of `message_type`'s events, or of those about purchases of `kind`."""
        subject = f"nobat.{self.context}.v1.{message_type.DESCRIPTOR.name}"
        return f"{subject}.{kind}" if kind else subject

    def subject_of(self, message: Message) -> str:
        """Where `message` is published: with its purchase's kind, on a stream that names it."""
        kind = purchase_kind(message) if self.kind_in_subject else ""
        return self.subject_for(message, kind)

    def subjects_to_read(self, message_type: type[Message], kind: str = "") -> tuple[str, ...]:
        """What a reader of `message_type`'s events, of purchases of `kind` or of any kind,
        asks NATS for. The bare subject too: an event published before subjects named the
        kind came on it, and may still be in the stream."""
        bare = self.subject_for(message_type)
        if not (self.kind_in_subject and _about_purchases(message_type)):
            return (bare,)
        return (bare, self.subject_for(message_type, kind or "*"))


def _about_purchases(message_type: type[Message] | Message) -> bool:
    return "purchase" in message_type.DESCRIPTOR.fields_by_name


def purchase_kind(message: Message) -> str:
    """The kind of the purchase `message` is about, or "" if it is about none."""
    return message.purchase.kind if _about_purchases(message) else ""  # type: ignore[attr-defined]


PAYMENT = Stream("PAYMENT", "payment", kind_in_subject=True)
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
        "subject": publisher.subject_of(message),
        "payload": message.SerializeToString(),
        "headers": headers,
    }
