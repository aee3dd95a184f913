"""A gateway webhook, once verified, is remembered by its event id and then taken as a
hint: the payment it names is settled from the gateway's truth, never from the event."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert

from runtime.db import UnitOfWork
from services.payment.adapters.tables import webhook_events
from services.payment.handlers.gateway import WebhookHint


async def remember_webhook(uow: UnitOfWork, hint: WebhookHint) -> bool:
    """Stores the event id under its unique key; False when it was seen before, so a
    webhook delivered fifty times is acted on once."""
    async with uow:
        stored = await uow.session.execute(
            pg_insert(webhook_events)
            .values(event_id=hint.event_id, event_type=hint.event_type, payment_id=hint.payment_id)
            .on_conflict_do_nothing()
            .returning(webhook_events.c.event_id)
        )
        new = stored.first() is not None
        await uow.commit()
        return new
