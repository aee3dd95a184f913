"""A gateway webhook, once verified, is remembered by its event id and then taken as a
hint: the payment it names is settled from the gateway's truth, never from the event."""

from __future__ import annotations

from dataclasses import dataclass

from services.payment.handlers.context import Context
from services.payment.handlers.gateway import WebhookHint
from services.payment.handlers.unit_of_work import PaymentUnit


@dataclass(frozen=True)
class RememberWebhook:
    """A verified gateway event, remembered by its id."""

    hint: WebhookHint


async def remember_webhook(ctx: Context, uow: PaymentUnit, cmd: RememberWebhook) -> bool:
    """True the first time the gateway's event arrives, False after: a webhook delivered
    fifty times is acted on once."""
    async with uow:
        new = await uow.webhooks.remember(cmd.hint)
        await uow.commit()
        return new
