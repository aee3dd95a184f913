"""The events payment consumes from the purchasing contexts, each turned into a command.

Each purchasing context states these on its own stream, and may speak only of payments
for its own kind of purchase: booking cannot have a consultation's payment refunded. A
payment these name that does not exist or is not the publisher's, or a refund its rules
refuse, can never succeed however often it is redelivered: it is dead-lettered for an
operator.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message
from nobat.payment.v1 import events_pb2

from runtime.consumer import EventHandler, PermanentFailure
from runtime.errors import DomainError
from runtime.handling import Handlers
from runtime.unit import Unit
from runtime.wire import field_required, optional_money_from, timestamp_or_none
from services.payment.adapters.messages import destination_from, doctor_or_platform_from
from services.payment.handlers import EVENTS
from services.payment.handlers.context import Context
from services.payment.handlers.payees import PayeeAssigned
from services.payment.handlers.refunds import (
    PurchaseFulfilled,
    PurchaseRejected,
    RefundPayment,
    RefundRequested,
)


def event_handlers(ctx: Context, purchaser: str) -> Mapping[type[Message], EventHandler]:
    """The handlers of the purchase outcomes one purchasing context states, about its own
    kind of purchase, `purchaser`; EVENTS names the handler of each."""
    handle = Handlers(ctx, EVENTS)

    def read(event: Message):
        if isinstance(event, events_pb2.PurchaseRejected):
            return PurchaseRejected(
                event.payment_id, event.reason or "purchase_rejected", purchaser
            )
        if isinstance(event, events_pb2.RefundRequested):
            refund = RefundPayment(
                payment_id=event.payment_id,
                key=event.idempotency_key,
                amount=optional_money_from(event.amount, "amount"),
                reason=event.reason,
                destination=destination_from(event.destination),
                purchaser=purchaser,
            )
            return RefundRequested(refund)
        if isinstance(event, events_pb2.PayeeAssigned):
            assigned_at = timestamp_or_none(event.assigned_at, "assigned_at")
            if assigned_at is None:
                raise field_required("assigned_at")
            return PayeeAssigned(
                payment_id=event.payment_id,
                line=event.line,
                doctor_id=doctor_or_platform_from(event.payee_kind, event.payee_id),
                assignment=event.assignment,
                assigned_at=assigned_at,
                purchaser=purchaser,
            )
        # The last of the four kinds the table below hands to this handler.
        assert isinstance(event, events_pb2.PurchaseFulfilled)
        return PurchaseFulfilled(event.payment_id, purchaser)

    async def handler(event: Message, uow: Unit) -> None:
        try:
            await handle(read(event), uow)
        except DomainError as exc:
            raise PermanentFailure(f"{type(exc).__name__}: {exc}") from exc

    return {
        events_pb2.PurchaseRejected: handler,
        events_pb2.RefundRequested: handler,
        events_pb2.PurchaseFulfilled: handler,
        events_pb2.PayeeAssigned: handler,
    }
