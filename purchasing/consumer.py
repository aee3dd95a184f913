"""Payment's events, as booking and consultation both consume them: each is read into the
news about one checkout (purchase.ref) and given to the context's handler for it. Another
kind of purchase is another context's business and is passed over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from google.protobuf.message import Message
from nobat.common.v1 import money_pb2
from nobat.payment.v1 import events_pb2

from purchasing.messages import confirmed_payment_from, payment_failure_from
from purchasing.news import PaymentConfirmed, PaymentExpired, PaymentFailed
from runtime.consumer import EventHandler
from runtime.db import UnitOfWork


@dataclass(frozen=True)
class PaymentHandlers:
    """A purchasing context's handlers of payment's news about its checkouts."""

    confirmed: Callable[[UnitOfWork, PaymentConfirmed], Awaitable[object]]
    failed: Callable[[UnitOfWork, PaymentFailed], Awaitable[object]]
    expired: Callable[[UnitOfWork, PaymentExpired], Awaitable[object]]


def payment_event_handlers(
    kind: str,
    handlers: PaymentHandlers,
    money_from: Callable[[money_pb2.Money, str], Any],
) -> Mapping[type[Message], EventHandler]:
    """The consumer's handlers of payment's events for purchases of `kind`; `money_from`
    reads amounts into the context's Money."""

    async def confirmed(event: events_pb2.PaymentConfirmed, uow: UnitOfWork) -> None:
        if event.purchase.kind == kind:
            payment = confirmed_payment_from(event, money_from)
            await handlers.confirmed(uow, PaymentConfirmed(event.purchase.ref, payment))

    async def failed(event: events_pb2.PaymentFailed, uow: UnitOfWork) -> None:
        if event.purchase.kind == kind:
            news = PaymentFailed(
                checkout_id=event.purchase.ref,
                failure=payment_failure_from(event),
                payment_id=event.payment_id,
                attempt_id=event.attempt_id or None,
                failed_at=event.failed_at.ToDatetime(tzinfo=UTC),
            )
            await handlers.failed(uow, news)

    async def expired(event: events_pb2.PaymentExpired, uow: UnitOfWork) -> None:
        if event.purchase.kind == kind:
            news = PaymentExpired(event.purchase.ref, event.expired_at.ToDatetime(tzinfo=UTC))
            await handlers.expired(uow, news)

    return {
        events_pb2.PaymentConfirmed: confirmed,
        events_pb2.PaymentFailed: failed,
        events_pb2.PaymentExpired: expired,
    }
