"""The payment events booking consumes, each turned into a command on the checkout it
names (purchase kind "booking", ref = the checkout id). Other kinds of purchase are
another context's business and are passed over."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from google.protobuf.message import Message
from nobat.payment.v1 import events_pb2

from runtime.consumer import EventHandler
from runtime.db import UnitOfWork
from services.booking.adapters.messages import confirmed_payment_from, payment_failure_from
from services.booking.domain.checkout import Checkout
from services.booking.handlers import checkouts
from services.booking.handlers.context import Context


def event_handlers(ctx: Context) -> Mapping[type[Message], EventHandler]:
    async def confirmed(event: events_pb2.PaymentConfirmed, uow: UnitOfWork) -> None:
        if event.purchase.kind == Checkout.PURCHASE_KIND:
            await checkouts.payment_confirmed(
                ctx, uow, event.purchase.ref, confirmed_payment_from(event)
            )

    async def failed(event: events_pb2.PaymentFailed, uow: UnitOfWork) -> None:
        if event.purchase.kind == Checkout.PURCHASE_KIND:
            await checkouts.payment_failed(
                ctx,
                uow,
                event.purchase.ref,
                payment_failure_from(event),
                event.payment_id,
                event.attempt_id or None,
                event.failed_at.ToDatetime(tzinfo=UTC),
            )

    async def expired(event: events_pb2.PaymentExpired, uow: UnitOfWork) -> None:
        if event.purchase.kind == Checkout.PURCHASE_KIND:
            await checkouts.expire(
                ctx,
                uow,
                event.purchase.ref,
                lapsed_only=False,
                expired_at=event.expired_at.ToDatetime(tzinfo=UTC),
            )

    return {
        events_pb2.PaymentConfirmed: confirmed,
        events_pb2.PaymentFailed: failed,
        events_pb2.PaymentExpired: expired,
    }
