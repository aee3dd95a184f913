"""The events consultation consumes: payment's news about its checkouts (purchase kind
"consultation"; NATS delivers no other kind), and booking's doctors' directory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from google.protobuf.message import Message
from nobat.booking.v1 import events_pb2 as booking_events

from purchasing.consumer import payment_event_handlers
from runtime.consumer import Concerning, EventHandler
from runtime.handling import Handlers
from runtime.unit import Unit
from services.consultation.domain.checkout import Checkout
from services.consultation.handlers import EVENTS
from services.consultation.handlers.clinical import DoctorUpdated
from services.consultation.handlers.context import Context


def payment_handlers(ctx: Context) -> Mapping[type[Message], Concerning]:
    return payment_event_handlers(Checkout.PURCHASE_KIND, Handlers(ctx, EVENTS))


def directory_handlers(ctx: Context) -> Mapping[type[Message], EventHandler]:
    handle = Handlers(ctx, EVENTS)

    async def doctor_updated(event: booking_events.DoctorUpdated, uow: Unit) -> None:
        doctor = event.doctor
        news = DoctorUpdated(
            doctor.id, doctor.time_zone, doctor.active, doctor.updated_at.ToDatetime(tzinfo=UTC)
        )
        await handle(news, uow)

    return {booking_events.DoctorUpdated: doctor_updated}
