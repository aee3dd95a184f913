"""The HTTP endpoint the gateway posts webhooks to.

It answers fast and trusts nothing: the signature is checked on the raw body (with the
gateway's timestamp tolerance, in constant time, by the SDK's verifier), the event id is
stored so duplicates are no-ops, and the payment is then settled in the background from
the gateway's own truth. A webhook that is lost costs nothing but time: reconciliation
asks the gateway anyway.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from runtime.handling import Handlers
from runtime.retry import retrying
from services.payment.handlers import COMMANDS
from services.payment.handlers.context import Context
from services.payment.handlers.gateway import InvalidWebhook
from services.payment.handlers.payments import SettlePayment
from services.payment.handlers.webhooks import RememberWebhook

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/gateway"
# Gateways send events of a few kilobytes; anything far larger is not one.
MAX_BODY = 256 * 1024


def webhook_app(ctx: Context) -> web.Application:
    settling: set[asyncio.Task] = set()
    handle = Handlers(ctx, COMMANDS)

    async def settle(payment_id: str, hint: str) -> None:
        try:
            await retrying(lambda: handle(SettlePayment(payment_id, hint=hint)))
        except Exception:
            log.exception(
                "settling payment %s after a webhook failed; reconciliation retries", payment_id
            )

    async def receive(request: web.Request) -> web.Response:
        payload = await request.read()
        try:
            hint = ctx.gateway.parse_webhook(payload, request.headers.get("Stripe-Signature"))
        except InvalidWebhook as exc:
            log.warning("refused a webhook: %s", exc)
            return web.json_response({"error": str(exc)}, status=400)
        if not hint.payment_id:
            return web.json_response({"received": True, "ignored": "not a nobat payment"})
        if await retrying(lambda: handle(RememberWebhook(hint))):
            task = asyncio.create_task(settle(hint.payment_id, hint.checkout_ref))
            settling.add(task)
            task.add_done_callback(settling.discard)
        return web.json_response({"received": True})

    async def finish_settling(app: web.Application) -> None:
        if settling:
            await asyncio.wait(settling, timeout=5)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(WEBHOOK_PATH, receive)
    app.on_shutdown.append(finish_settling)
    return app
