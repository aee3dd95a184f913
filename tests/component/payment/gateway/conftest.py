"""The sandbox gateway as a real process, one for the session, with its webhooks sent to a
receiver in the test process; the gateway adapter pointed at it.

Tests share the process, so each resets the switches before and after it, and picks out
its own webhooks by the payment id in them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from services.payment.adapters.stripe_gateway import StripeGateway
from stack.ports import free_port
from stack.sandbox import SandboxGateway
from tests.component.payment.harness import SandboxControl

API_KEY = "sk_test_gateway_adapter"
WEBHOOK_SECRET = "whsec_gateway_adapter_tests"


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str | None
    # What the receiver answered.
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def payment_id(self) -> str:
        return self.event["data"]["object"]["metadata"].get("payment_id", "")


class LocalServer:
    """An HTTP server of the test's own on a free local port, answering with `routes`."""

    def __init__(self) -> None:
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    def routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.routes(app.router)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class WebhookReceiver(LocalServer):
    """Records every webhook delivery; answers 500 to those about a payment in `failing`,
    200 to the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[Delivery] = []
        self.failing: set[str] = set()
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/webhooks", self._receive)

    def about(self, payment_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.payment_id == payment_id]

    async def wait_for(
        self, payment_id: str, check: Callable[[list[Delivery]], bool], timeout: float = 10.0
    ) -> list[Delivery]:
        """The deliveries about `payment_id` once `check` holds for them."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: check(self.about(payment_id)))
        return self.about(payment_id)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("Stripe-Signature")
        delivery = Delivery(body, signature, 200)
        if delivery.payment_id in self.failing:
            delivery = Delivery(body, signature, 500)
        async with self._arrived:
            self.deliveries.append(delivery)
            self._arrived.notify_all()
        return web.Response(status=delivery.status)


@pytest.fixture(scope="session")
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture(scope="session")
def sandbox_process(
    webhook_receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxGateway]:
    with SandboxGateway(
        tmp_path_factory.mktemp("sandbox"),
        api_key=API_KEY,
        webhook_secret=WEBHOOK_SECRET,
        webhook_url=webhook_receiver.url,
        # Sessions that expire within seconds, and retries that stop within the run.
        min_expiry_seconds=0,
        webhook_retry_for=30,
    ) as server:
        yield server


@pytest.fixture
async def sandbox(sandbox_process: SandboxGateway) -> AsyncIterator[SandboxControl]:
    control = SandboxControl(sandbox_process.url)
    await control.reset()
    yield control
    await control.reset()


@pytest.fixture
async def gateway(sandbox_process: SandboxGateway) -> AsyncIterator[StripeGateway]:
    adapter = StripeGateway(API_KEY, WEBHOOK_SECRET, base_url=sandbox_process.url)
    yield adapter
    await adapter.close()
