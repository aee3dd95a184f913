"""Payment's events, as booking and consultation both consume them: each is read into the
news about one checkout (purchase.ref) and given to the context's handler for it. Another
kind of purchase is another context's business: payment names the kind in the subject, so
NATS does not deliver it, and one published before subjects named kinds is passed over."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from google.protobuf.message import Message
from nobat.payment.v1 import events_pb2

from purchasing.messages import (
    confirmed_payment_from,
    payment_failure_from,
    purchase_voided_from,
)
from purchasing.news import PaymentConfirmed, PaymentExpired, PaymentFailed
from runtime.consumer import Concerning
from runtime.handling import Handlers
from runtime.unit import Unit


def payment_event_handlers(kind: str, handle: Handlers) -> Mapping[type[Message], Concerning]:
    """The consumer's handlers of payment's events for purchases of `kind`: each becomes
    the news (PaymentConfirmed, PaymentFailed, PaymentExpired, PurchaseVoided) that
    `handle` gives to the context's handler of it."""

    async def confirmed(event: events_pb2.PaymentConfirmed, uow: Unit) -> None:
        payment = confirmed_payment_from(event)
        await handle(PaymentConfirmed(event.purchase.ref, payment), uow)

    async def failed(event: events_pb2.PaymentFailed, uow: Unit) -> None:
        news = PaymentFailed(
            checkout_id=event.purchase.ref,
            failure=payment_failure_from(event),
            payment_id=event.payment_id,
            attempt_id=event.attempt_id or None,
            failed_at=event.failed_at.ToDatetime(tzinfo=UTC),
        )
        await handle(news, uow)

    async def expired(event: events_pb2.PaymentExpired, uow: Unit) -> None:
        news = PaymentExpired(event.purchase.ref, event.expired_at.ToDatetime(tzinfo=UTC))
        await handle(news, uow)

    async def voided(event: events_pb2.PurchaseVoided, uow: Unit) -> None:
        await handle(purchase_voided_from(event), uow)

    return {
        events_pb2.PaymentConfirmed: Concerning.purchases_of(kind, confirmed),
        events_pb2.PaymentFailed: Concerning.purchases_of(kind, failed),
        events_pb2.PaymentExpired: Concerning.purchases_of(kind, expired),
        events_pb2.PurchaseVoided: Concerning.purchases_of(kind, voided),
    }
