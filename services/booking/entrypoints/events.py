"""The events booking consumes: payment's news about its checkouts (purchase kind
"booking"; NATS delivers no other kind), each given to the handler EVENTS names for it."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from purchasing.consumer import payment_event_handlers
from runtime.consumer import Concerning
from runtime.handling import Handlers
from services.booking.domain.checkout import Checkout
from services.booking.handlers import EVENTS
from services.booking.handlers.context import Context


def event_handlers(ctx: Context) -> Mapping[type[Message], Concerning]:
    return payment_event_handlers(Checkout.PURCHASE_KIND, Handlers(ctx, EVENTS))
