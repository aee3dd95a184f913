"""The sandbox's web application: Stripe's API, the hosted page and the control API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.api import Api
from sandbox.control import Control
from sandbox.disputes import Disputes
from sandbox.objects import Clock
from sandbox.page import CheckoutPage
from sandbox.payments import Payments
from sandbox.switches import Switches
from sandbox.webhooks import ALL_EVENTS, Webhooks


@dataclass(frozen=True)
class SandboxConfig:
    api_key: str
    webhook_secret: str
    webhook_url: str
    # Where browsers reach the sandbox: the base of each session's hosted page.
    public_url: str
    webhook_retry_for: float = 3600.0
    # Stripe's least lifetime for a session; tests lower it to watch sessions expire.
    min_expiry_seconds: int = 1800
    switches: Mapping[str, Any] = field(default_factory=dict)
    # The event types the webhook endpoint is sent, as on a Stripe endpoint; "*" is all.
    enabled_events: Collection[str] = (ALL_EVENTS,)
    # The sandbox's time; tests hand in a clock they move.
    clock: Clock = field(default_factory=Clock)


def build_app(config: SandboxConfig) -> web.Application:
    """The application; ValueError if `config.switches` are not valid switches."""
    switches = Switches()
    switches.merge(config.switches)
    clock = config.clock
    webhooks = Webhooks(
        config.webhook_url,
        config.webhook_secret,
        switches,
        config.webhook_retry_for,
        clock,
        config.enabled_events,
    )
    payments = Payments(switches, webhooks, config.public_url, config.min_expiry_seconds, clock)
    disputes = Disputes(payments)
    api = Api(payments, disputes, switches, config.api_key, clock)
    app = web.Application(middlewares=[api.middleware])
    app.add_routes(api.routes())
    app.add_routes(CheckoutPage(payments, switches).routes())
    app.add_routes(Control(payments, disputes, switches, webhooks).routes())

    async def deliveries(app: web.Application) -> AsyncIterator[None]:
        await webhooks.start()
        yield
        await webhooks.close()

    app.cleanup_ctx.append(deliveries)
    return app
