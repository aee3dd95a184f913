"""The events booking consumes: payment's news about its checkouts (purchase kind
"booking"; other kinds are passed over), each given to the checkout handler for it."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from purchasing.consumer import PaymentHandlers, payment_event_handlers
from runtime.consumer import EventHandler
from services.booking.adapters.messages import money_from
from services.booking.domain.checkout import Checkout
from services.booking.handlers import checkouts
from services.booking.handlers.context import Context


def event_handlers(ctx: Context) -> Mapping[type[Message], EventHandler]:
    handlers = PaymentHandlers(
        confirmed=lambda uow, news: checkouts.payment_confirmed(ctx, uow, news),
        failed=lambda uow, news: checkouts.payment_failed(ctx, uow, news),
        expired=lambda uow, news: checkouts.payment_expired(ctx, uow, news),
    )
    return payment_event_handlers(Checkout.PURCHASE_KIND, handlers, money_from)
