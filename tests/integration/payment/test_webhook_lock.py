"""Two webhooks about one checkout session at once, on a real PostgreSQL: the second
waits for the payment's lock in the statement that remembers its event, then reads the
payment as the first left it, so the patient's payment is confirmed once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.db import sessionmaker
from runtime.events import PAYMENT
from services.payment.adapters.unit_of_work import PaymentUnitOfWork
from services.payment.domain.settlement import GatewayTruth
from services.payment.handlers.context import Context
from services.payment.handlers.payments import create_payment
from tests.integration.payment.test_disputes import NOW, webhook
from tests.unit.payment.fakes import FakeGateway
from tests.unit.payment.test_handlers import APPOINTMENT


class HeldGateway(FakeGateway):
    """Answers the first read of a session only once the test lets it (`answer`)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def read_checkout(self, checkout_ref: str) -> GatewayTruth:
        if not self.asked.is_set():
            self.asked.set()
            await self.answer.wait()
        return await super().read_checkout(checkout_ref)


@pytest.fixture
def payment(engine: AsyncEngine) -> Context:
    sessions = sessionmaker(engine)
    return Context(lambda: PaymentUnitOfWork(sessions, PAYMENT), HeldGateway(), clock=lambda: NOW)


async def waiting_for_a_lock(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        return (await conn.execute(text(query))).scalar_one()


async def test_a_webhook_waiting_on_another_for_the_same_session_confirms_nothing_twice(
    payment, engine
):
    made = await create_payment(payment, payment.unit_of_work(), APPOINTMENT)
    session = made.attempts[0].gateway_ref
    payment.gateway.pay(session, made.amount)

    # The first holds the payment's lock over its read of the gateway.
    first = asyncio.create_task(
        webhook(payment, "evt_completed", payment_id=made.id, checkout_ref=session)
    )
    await asyncio.wait_for(payment.gateway.asked.wait(), 10)
    second = asyncio.create_task(
        webhook(payment, "evt_succeeded", payment_id=made.id, checkout_ref=session)
    )
    for _ in range(200):
        if await waiting_for_a_lock(engine):
            break
        await asyncio.sleep(0.05)
    assert await waiting_for_a_lock(engine) == 1
    payment.gateway.answer.set()

    assert await asyncio.wait_for(asyncio.gather(first, second), 10) == [True, True]
    async with engine.connect() as conn:
        trail = await conn.execute(text("SELECT status FROM payment_statuses ORDER BY id"))
        confirmed = await conn.execute(
            text("SELECT count(*) FROM outbox WHERE event_type LIKE '%.PaymentConfirmed'")
        )
        captures = await conn.execute(text("SELECT count(*) FROM ledger_transactions"))
        assert list(trail.scalars()) == ["processing", "succeeded"]
        assert confirmed.scalar_one() == 1
        assert captures.scalar_one() == 1
