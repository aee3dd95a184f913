"""The HTTP endpoint the gateway posts webhooks to.

It trusts nothing: the signature is checked on the raw body (with the gateway's
timestamp tolerance, in constant time, by the SDK's verifier); then, in one commit, the
event id is stored so duplicates are no-ops and the payment is settled from the
gateway's own truth. The gateway gets its 200 only after that commit: an answer lost to
a crash or an outage means the gateway delivers the event again, and a webhook lost
for good costs nothing but time, because reconciliation asks the gateway anyway.
"""

from __future__ import annotations

import logging

from aiohttp import web

from runtime.handling import Handlers
from runtime.retry import retrying
from services.payment.handlers import COMMANDS
from services.payment.handlers.context import Context
from services.payment.handlers.gateway import InvalidWebhook
from services.payment.handlers.webhooks import ActOnWebhook
from services.payment.metrics import webhook_verdicts as verdicts

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/gateway"
# Gateways send events of a few kilobytes; anything far larger is not one.
MAX_BODY = 256 * 1024


def webhook_app(ctx: Context) -> web.Application:
    handle = Handlers(ctx, COMMANDS)

    async def receive(request: web.Request) -> web.Response:
        payload = await request.read()
        try:
            hint = ctx.gateway.parse_webhook(payload, request.headers.get("Stripe-Signature"))
        except InvalidWebhook as exc:
            log.warning("refused a webhook: %s", exc)
            verdicts[exc.verdict].inc()
            return web.json_response({"error": str(exc)}, status=400)
        if not hint.concerns_nobat:
            verdicts["ignored"].inc()
            return web.json_response({"received": True, "ignored": "not a nobat payment"})
        try:
            acted = await retrying(lambda: handle(ActOnWebhook(hint)))
        except Exception:
            about = hint.payment_id or hint.event_type
            log.exception("acting on webhook %s (%s) failed", hint.event_id, about)
            verdicts["failed"].inc()
            return web.json_response({"error": "not processed; deliver it again"}, status=500)
        verdicts["accepted" if acted else "duplicate"].inc()
        return web.json_response({"received": True})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(WEBHOOK_PATH, receive)
    return app
