"""Where each event is published, and what each context's readers ask NATS for: payment's
news about a purchase carries the purchase's kind, so that booking and consultation are
delivered only their own, and notification only the top-ups it tells of."""

from __future__ import annotations

import uuid

from nobat.booking.v1 import events_pb2 as booking_events
from nobat.payment.v1 import events_pb2 as payment_events
from nobat.payment.v1 import payment_service_pb2

from purchasing.consumer import payment_event_handlers
from purchasing.kinds import WALLET_TOP_UP
from runtime.consumer import EventConsumer
from runtime.events import BOOKING, PAYMENT, envelope
from services.notification.entrypoints.events import event_handlers as notification_handlers


def _subject(message, publisher) -> str:
    return envelope(message, uuid.uuid4(), "", publisher)["subject"]


def _purchase(kind: str) -> payment_service_pb2.Purchase:
    return payment_service_pb2.Purchase(kind=kind, ref="checkout-1")


def test_payment_names_the_purchase_kind_and_other_contexts_do_not():
    confirmed = payment_events.PaymentConfirmed(payment_id="p-1", purchase=_purchase("booking"))
    released = payment_events.PayoutReleased(payout_id="payout-1")
    fulfilled = payment_events.PurchaseFulfilled(payment_id="p-1", purchase=_purchase("booking"))

    assert _subject(confirmed, PAYMENT) == "nobat.payment.v1.PaymentConfirmed.booking"
    # Not about a purchase: its subject is its type's.
    assert _subject(released, PAYMENT) == "nobat.payment.v1.PayoutReleased"
    # Booking's stream is read by payment alone, which takes every kind.
    assert _subject(fulfilled, BOOKING) == "nobat.booking.v1.PurchaseFulfilled"
    assert _subject(booking_events.ReservationConfirmed(), BOOKING) == (
        "nobat.booking.v1.ReservationConfirmed"
    )


def _filters(stream, handlers) -> list[str]:
    consumer = EventConsumer(
        None,  # type: ignore[arg-type]
        name="reader",
        stream=stream,
        handlers=handlers,
        unit_of_work=lambda: None,  # type: ignore[arg-type,return-value]
    )
    return consumer._filters


async def _ignore(news: object, uow: object = None) -> None:
    pass


def test_each_context_asks_for_its_own_kind_of_payment_news():
    booking = _filters(PAYMENT, payment_event_handlers("booking", _ignore))  # type: ignore[arg-type]
    assert "nobat.payment.v1.PaymentConfirmed.booking" in booking
    assert "nobat.payment.v1.PaymentConfirmed.consultation" not in booking
    # The bare subject still, for what was published on it before and is in the stream.
    assert "nobat.payment.v1.PaymentConfirmed" in booking

    notification = _filters(PAYMENT, notification_handlers(None, PAYMENT))  # type: ignore[arg-type]
    assert f"nobat.payment.v1.PaymentConfirmed.{WALLET_TOP_UP.name}" in notification
    assert not any(s.endswith("PaymentConfirmed.booking") for s in notification)
    # A refund of any kind is told to its patient.
    assert "nobat.payment.v1.PaymentRefunded.*" in notification
