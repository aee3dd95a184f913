"""The events payment consumes from the purchasing contexts, each turned into a command.

Each purchasing context states these on its own stream, and may speak only of payments
for its own kind of purchase: booking cannot have a consultation's payment refunded. A
payment these name that does not exist or is not the publisher's, or a refund its rules
refuse, can never succeed however often it is redelivered: it is dead-lettered for an
operator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from google.protobuf.message import Message
from nobat.payment.v1 import events_pb2

from runtime.consumer import EventHandler, PermanentFailure
from runtime.db import UnitOfWork
from runtime.errors import DomainError
from services.payment.adapters.messages import destination_from, optional_money_from
from services.payment.handlers import refunds
from services.payment.handlers.context import Context


def _permanent(handle: Callable[[Message, UnitOfWork], Awaitable[None]]) -> EventHandler:
    async def handler(event: Message, uow: UnitOfWork) -> None:
        try:
            await handle(event, uow)
        except DomainError as exc:
            raise PermanentFailure(f"{type(exc).__name__}: {exc}") from exc

    return handler


def event_handlers(ctx: Context, purchaser: str) -> Mapping[type[Message], EventHandler]:
    """The handlers of the purchase outcomes one purchasing context states, about its own
    kind of purchase, `purchaser`."""

    async def purchase_rejected(event: events_pb2.PurchaseRejected, uow: UnitOfWork) -> None:
        command = refunds.rejection_refund(
            event.payment_id, event.reason or "purchase_rejected", purchaser
        )
        await refunds.refund_what_is_left(ctx, uow, command)

    async def refund_requested(event: events_pb2.RefundRequested, uow: UnitOfWork) -> None:
        command = refunds.RefundPayment(
            payment_id=event.payment_id,
            key=event.idempotency_key,
            amount=optional_money_from(event.amount, "amount"),
            reason=event.reason,
            destination=destination_from(event.destination),
            purchaser=purchaser,
        )
        await refunds.refund_what_is_left(ctx, uow, command)

    async def purchase_fulfilled(event: events_pb2.PurchaseFulfilled, uow: UnitOfWork) -> None:
        await refunds.mark_fulfilled(ctx, uow, event.payment_id, purchaser)

    return {
        events_pb2.PurchaseRejected: _permanent(purchase_rejected),
        events_pb2.RefundRequested: _permanent(refund_requested),
        events_pb2.PurchaseFulfilled: _permanent(purchase_fulfilled),
    }
