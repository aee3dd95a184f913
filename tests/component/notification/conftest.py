"""Fixtures that run one notification service for this package's integration tests: a
database from the migrated template, empty streams, a local mail server and a webhook
receiver, and the service process pointed at all of them. Tests keep out of each other's
way with users of their own; the service and its servers are shared, since starting a
process per test would cost more than all the tests together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import create_async_engine

from runtime.config import DEVELOPMENT
from runtime.events import BOOKING, CONSULTATION, PAYMENT
from runtime.messaging import ensure_stream
from stack.databases import Databases
from stack.identity import Identities
from stack.local import SERVICES, service_environment
from stack.ports import free_port
from tests.component.notification.harness import (
    Mailbox,
    NotificationUnderTest,
    WebhookReceiver,
)
from tests.conftest import fresh_database, migrated_template
from tests.processes import ServiceUnderTest

# Fast clocks: deliveries every 0.1 s, three tries 0.2 s then 0.4 s apart.
FAST = {
    "NOBAT_NOTIFICATION_DELIVERY_INTERVAL_SECONDS": "0.1",
    "NOBAT_NOTIFICATION_MAX_ATTEMPTS": "3",
    "NOBAT_NOTIFICATION_FIRST_RETRY_SECONDS": "0.2",
    "NOBAT_NOTIFICATION_LONGEST_RETRY_SECONDS": "1",
    "NOBAT_NOTIFICATION_SEND_TIMEOUT_SECONDS": "2",
    # The webhook receiver listens on loopback, over plain http.
    DEVELOPMENT: "true",
    "NOBAT_CONSUMER_ACK_WAIT_SECONDS": "5",
    "NOBAT_SHUTDOWN_GRACE_SECONDS": "2",
}


@pytest.fixture(scope="package")
def mailbox() -> Iterator[Mailbox]:
    with Mailbox().running() as mailbox:
        yield mailbox


@pytest.fixture(scope="package")
async def webhooks() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture(scope="package")
async def notification_db(postgres: Databases) -> AsyncIterator[str]:
    template = await migrated_template(postgres, "notification")
    async for url in fresh_database(postgres, template):
        yield url


@pytest.fixture(scope="package")
async def notification(
    notification_db: str,
    nats_url: str,
    mailbox: Mailbox,
    webhooks: WebhookReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[NotificationUnderTest]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for stream in (PAYMENT, BOOKING, CONSULTATION):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream.name)
        # As each publishing context does when it starts; notification only reads them.
        await ensure_stream(js, stream, duplicate_window=120)
    identities = Identities(tmp_path_factory.mktemp("identity"), SERVICES)
    env = service_environment(notification_db, nats_url, identities.env("notification")) | {
        "NOBAT_GRPC_PORT": str(free_port()),
        "NOBAT_METRICS_PORT": str(free_port()),
        "NOBAT_NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOBAT_NOTIFICATION_SMTP_PORT": str(mailbox.port),
        "NOBAT_NOTIFICATION_SMTP_STARTTLS": "false",
        **FAST,
    }
    log_path = Path(tmp_path_factory.mktemp("notification")) / "notification.log"
    process = ServiceUnderTest("services.notification", env, log_path).start()
    engine = create_async_engine(notification_db)
    under_test = NotificationUnderTest(process, identities, engine, js)
    try:
        async with process.serving():
            try:
                yield under_test
            finally:
                await under_test.close()
    finally:
        await engine.dispose()
        await nc.close()
