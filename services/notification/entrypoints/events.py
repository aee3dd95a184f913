"""The events notification consumes, by stream, each read as a fact and handed to
`notify` as a Notify command. An event that cannot be read as a fact (no recipient, no id)
never will be: it is dead-lettered rather than retried."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from google.protobuf.message import Message
from nobat.booking.v1 import events_pb2 as booking
from nobat.consultation.v1 import events_pb2 as consultation
from nobat.payment.v1 import events_pb2 as payment

from purchasing.kinds import WALLET_TOP_UP
from runtime.consumer import Concerning, EventHandler, EventHandlers, PermanentFailure
from runtime.errors import InvalidArgument
from runtime.events import BOOKING, CONSULTATION, PAYMENT, Stream
from runtime.handling import Handlers
from runtime.unit import Unit
from services.notification.adapters import facts
from services.notification.domain.facts import Fact
from services.notification.handlers import COMMANDS, EVENTS
from services.notification.handlers.context import Context
from services.notification.handlers.facts import DoctorUpdated, Notify

E = TypeVar("E", bound=Message)
T = TypeVar("T")

# A reader answering None reads news nobody is told of (a confirmation other than a
# top-up's, whose purchasing context announces the record it makes instead).
NOTIFYING: Mapping[Stream, Mapping[type[Message], Callable[..., Fact | None]]] = {
    BOOKING: {
        booking.ReservationConfirmed: facts.reservation_confirmed,
        booking.ReservationCancelled: facts.reservation_cancelled,
    },
    PAYMENT: {
        payment.PaymentConfirmed: facts.wallet_topped_up,
        payment.PaymentFailed: facts.payment_failed,
        payment.PaymentRefunded: facts.payment_refunded,
        payment.PayoutReleased: facts.payout_released,
    },
    CONSULTATION: {
        consultation.ClinicalSessionOpened: facts.symptoms_due,
        consultation.ConsultationCreated: facts.consultation_created,
        consultation.ConsultationAssigned: facts.consultation_assigned,
        consultation.ConsultationAccepted: facts.consultation_accepted,
        consultation.ConsultationDeclined: facts.consultation_declined,
        consultation.ConsultationCompleted: facts.consultation_completed,
    },
}


def _read(read: Callable[[E], T], event: E) -> T:
    try:
        return read(event)
    except (ValueError, InvalidArgument) as exc:
        raise PermanentFailure(f"{type(event).__name__} cannot be read: {exc}") from None


# Events of which only those about one kind of purchase are news to anyone: NATS delivers
# only those (every booking's and consultation's confirmation is left out, for a top-up's
# few).
CONCERNING: Mapping[type[Message], str] = {
    payment.PaymentConfirmed: WALLET_TOP_UP.name,
}


def event_handlers(ctx: Context, stream: Stream) -> EventHandlers:
    handle = Handlers(ctx, COMMANDS, EVENTS)

    def notifying(read: Callable[[Message], Fact | None]) -> EventHandler:
        async def notify(event: Message, uow: Unit) -> None:
            fact = _read(read, event)
            if fact is not None:
                await handle(Notify(fact), uow)

        return notify

    handled: dict[type[Message], EventHandler] = {
        message_type: notifying(read) for message_type, read in NOTIFYING[stream].items()
    }
    if stream == BOOKING:

        async def doctor_updated(event: booking.DoctorUpdated, uow: Unit) -> None:
            await handle(DoctorUpdated(_read(facts.doctor_listing, event)), uow)

        handled[booking.DoctorUpdated] = doctor_updated
    consumed: dict[type[Message], EventHandler | Concerning] = dict(handled)
    for message_type, kind in CONCERNING.items():
        if message_type in handled:
            consumed[message_type] = Concerning.purchases_of(kind, handled[message_type])
    return consumed
