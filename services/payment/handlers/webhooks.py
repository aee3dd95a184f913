"""A gateway webhook, once verified, is remembered by its event id and then taken as a
hint: the payment it names is settled from the gateway's truth, never from the event."""

from __future__ import annotations

from services.payment.handlers.gateway import WebhookHint
from services.payment.handlers.unit_of_work import PaymentUnit


async def remember_webhook(uow: PaymentUnit, hint: WebhookHint) -> bool:
    """True the first time the gateway's event arrives, False after: a webhook delivered
    fifty times is acted on once."""
    async with uow:
        new = await uow.webhooks.remember(hint)
        await uow.commit()
        return new
