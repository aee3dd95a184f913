"""A gateway webhook, once verified, is remembered by its event id and taken as a hint:
the payment it names is settled from the gateway's truth, never from the event."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from services.payment.domain.audit import GATEWAY, Action
from services.payment.domain.errors import PaymentNotFound
from services.payment.handlers.context import Context
from services.payment.handlers.disputes import follow_dispute, heed_fraud_warning
from services.payment.handlers.gateway import WebhookHint
from services.payment.handlers.payments import SettlePayment, settle_payment
from services.payment.handlers.unit_of_work import PaymentUnit

# Recorded only with the move it makes (the same insert the status history took anyway),
# so a webhook that changes nothing writes nothing more.
_WEBHOOK = Action("webhook", GATEWAY)


@dataclass(frozen=True)
class ActOnWebhook:
    """A verified gateway event about one of nobat's payments."""

    hint: WebhookHint


async def act_on_webhook(ctx: Context, uow: PaymentUnit, cmd: ActOnWebhook) -> bool:
    """The first time the gateway's event arrives, remembers it and settles its payment in
    the same commit; after that does nothing (False): a webhook delivered fifty times is
    acted on once. If the commit fails, the event is not remembered either, so the
    gateway's next delivery of it is acted on."""
    hint = cmd.hint
    # The settle of a session the event names locks its payment first thing, before the
    # gateway is read: the claim takes that lock in its own round trip. Other events ask
    # the gateway before they lock, or find their payment through it.
    locks_first = bool(hint.checkout_ref) and not (hint.dispute_ref or hint.fraud_warning_ref)
    async with uow:
        if not await uow.webhooks.remember(hint, lock_payment=locks_first):
            return False
        # Metadata naming a payment nobat never made: remembered, nothing to settle.
        with contextlib.suppress(PaymentNotFound):
            if hint.dispute_ref:
                await follow_dispute(ctx, uow, hint.dispute_ref)
            elif hint.fraud_warning_ref:
                await heed_fraud_warning(ctx, uow, hint.fraud_warning_ref)
            else:
                settling = SettlePayment(hint.payment_id, hint=hint.checkout_ref, action=_WEBHOOK)
                await settle_payment(ctx, uow, settling)
        await uow.commit()
        return True
