"""The events consultation consumes: payment's news about its checkouts (purchase kind
"consultation"; others are passed over), and booking's doctors' directory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from google.protobuf.message import Message
from nobat.booking.v1 import events_pb2 as booking_events
from nobat.payment.v1 import events_pb2 as payment_events

from runtime.consumer import EventHandler
from runtime.db import UnitOfWork
from services.consultation.adapters.messages import confirmed_payment_from, payment_failure_from
from services.consultation.domain.checkout import Checkout
from services.consultation.handlers import clinical, purchases
from services.consultation.handlers.context import Context


def payment_handlers(ctx: Context) -> Mapping[type[Message], EventHandler]:
    async def confirmed(event: payment_events.PaymentConfirmed, uow: UnitOfWork) -> None:
        if event.purchase.kind == Checkout.PURCHASE_KIND:
            await purchases.payment_confirmed(
                ctx, uow, event.purchase.ref, confirmed_payment_from(event)
            )

    async def failed(event: payment_events.PaymentFailed, uow: UnitOfWork) -> None:
        if event.purchase.kind == Checkout.PURCHASE_KIND:
            await purchases.payment_failed(
                ctx,
                uow,
                event.purchase.ref,
                payment_failure_from(event),
                event.payment_id,
                event.attempt_id or None,
                event.failed_at.ToDatetime(tzinfo=UTC),
            )

    async def expired(event: payment_events.PaymentExpired, uow: UnitOfWork) -> None:
        if event.purchase.kind == Checkout.PURCHASE_KIND:
            await purchases.payment_expired(
                ctx, uow, event.purchase.ref, event.expired_at.ToDatetime(tzinfo=UTC)
            )

    return {
        payment_events.PaymentConfirmed: confirmed,
        payment_events.PaymentFailed: failed,
        payment_events.PaymentExpired: expired,
    }


def directory_handlers(ctx: Context) -> Mapping[type[Message], EventHandler]:
    async def doctor_updated(event: booking_events.DoctorUpdated, uow: UnitOfWork) -> None:
        doctor = event.doctor
        await clinical.doctor_updated(
            ctx,
            uow,
            doctor.id,
            doctor.time_zone,
            doctor.active,
            doctor.updated_at.ToDatetime(tzinfo=UTC),
        )

    return {booking_events.DoctorUpdated: doctor_updated}
