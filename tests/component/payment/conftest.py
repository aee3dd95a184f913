"""Fixtures that run the payment service for a test: a fresh database from a migrated
template, an empty PAYMENT stream, a sandbox gateway of its own, and the service process
pointed at all three. Settings a test needs (a short payout hold, say) come from its
`payment_env` marker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from stack.databases import Databases
from stack.identity import Identities
from stack.local import SERVICES, service_environment
from stack.ports import free_port
from stack.sandbox import SandboxGateway
from tests.component.payment.harness import PaymentUnderTest, SandboxControl, payment_stream
from tests.conftest import fresh_database, migrated_template
from tests.processes import ServiceUnderTest

API_KEY = "sk_test_nobat"
WEBHOOK_SECRET = "whsec_nobat_tests"

# Fast clocks for tests: jobs every 0.3 s, reconciliation after 1 s, and a pending session
# holding expiry back for 1 s. Holds and orphan grace stay long unless a test asks.
FAST = {
    "NOBAT_PAYMENT_JOB_INTERVAL_SECONDS": "0.3",
    "NOBAT_PAYMENT_TALLY_SECONDS": "0.3",
    "NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS": "1",
    "NOBAT_PAYMENT_RECONCILE_EVERY_SECONDS": "1",
    "NOBAT_PAYMENT_PENDING_GRACE_SECONDS": "1",
    "NOBAT_PAYMENT_ORPHAN_GRACE_SECONDS": "3600",
    "NOBAT_CONSUMER_ACK_WAIT_SECONDS": "5",
    "NOBAT_SHUTDOWN_GRACE_SECONDS": "3",
}


@pytest.fixture(scope="session")
def identities(tmp_path_factory: pytest.TempPathFactory) -> Identities:
    return Identities(tmp_path_factory.mktemp("identity"), SERVICES)


@pytest.fixture(scope="session")
async def payment_template(postgres: Databases) -> str:
    return await migrated_template(postgres, "payment")


@pytest.fixture
async def payment_db(postgres: Databases, payment_template: str) -> AsyncIterator[str]:
    async for url in fresh_database(postgres, payment_template):
        yield url


@pytest.fixture
async def stream(nats_url: str):
    async with payment_stream(nats_url) as (js, log):
        yield js, log


@pytest.fixture
def js(stream):
    return stream[0]


@pytest.fixture
def events(stream):
    return stream[1]


@pytest.fixture
def webhook_port() -> int:
    return free_port()


@pytest.fixture
def sandbox_server(tmp_path: Path, webhook_port: int):
    with SandboxGateway(
        tmp_path,
        api_key=API_KEY,
        webhook_secret=WEBHOOK_SECRET,
        webhook_url=f"http://127.0.0.1:{webhook_port}/webhooks/gateway",
        min_expiry_seconds=0,
        webhook_retry_for=60,
    ) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server) -> SandboxControl:
    return SandboxControl(sandbox_server.url)


@pytest.fixture
async def payment(
    request: pytest.FixtureRequest,
    payment_db: str,
    nats_url: str,
    identities: Identities,
    sandbox_server,
    webhook_port: int,
    stream,
    tmp_path: Path,
) -> AsyncIterator[PaymentUnderTest]:
    marker = request.node.get_closest_marker("payment_env")
    metrics_port = free_port()
    env = service_environment(payment_db, nats_url, identities.env("payment")) | {
        "NOBAT_GRPC_PORT": str(free_port()),
        "NOBAT_METRICS_PORT": str(metrics_port),
        "NOBAT_WEBHOOK_PORT": str(webhook_port),
        "NOBAT_GATEWAY_BASE_URL": sandbox_server.url,
        "NOBAT_GATEWAY_API_KEY": API_KEY,
        "NOBAT_GATEWAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        **FAST,
        **(marker.kwargs if marker else {}),
    }
    process = ServiceUnderTest("services.payment", env, tmp_path / "payment.log")
    process.start()
    engine = create_async_engine(payment_db)
    under_test = PaymentUnderTest(
        process,
        identities,
        engine,
        f"http://127.0.0.1:{webhook_port}/webhooks/gateway",
        metrics_port=metrics_port,
    )
    try:
        async with process.serving():
            try:
                yield under_test
            finally:
                await under_test.close()
    finally:
        await engine.dispose()
