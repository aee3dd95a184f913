"""The cap on a patient's open consultation checkouts against a real PostgreSQL: counted
on the partial index, and held when two checkouts start at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from purchasing.checkout import PaymentMethod
from purchasing.errors import TooManyOpenCheckouts
from purchasing.quota import OpenCheckouts
from runtime.db import sessionmaker
from services.consultation.adapters.tables import OPEN_BY_PATIENT
from services.consultation.domain.checkout import Checkout
from services.consultation.handlers.context import ConsultationSettings, Context
from services.consultation.handlers.purchases import StartCheckout, start_checkout
from tests.integration.conftest import store
from tests.integration.consultation.conftest import Transaction
from tests.integration.open_checkouts import PaymentHeldOpen, plan
from tests.unit.consultation.builders import CHAT, NOW, RULES, a_checkout, an_intake
from tests.unit.fakes import FakeWatch

TTL = timedelta(minutes=30)


async def test_the_count_reads_the_partial_index_and_leaves_out_what_cannot_be_paid(
    transaction: Transaction,
):
    intake = an_intake()
    waiting = a_checkout(intake, checkout_id="waiting")
    # A history of checkouts long gone, which the count must not have to read (ListCheckouts'
    # index by patient would read them all).
    history = [a_checkout(intake, checkout_id=f"expired-{n}") for n in range(50)]
    for expired in history:
        expired.expire(NOW)
    await store(transaction, intake, waiting, *history)

    async with transaction() as db:
        assert await db.checkouts.open_of("patient-1", NOW) == OpenCheckouts(1, NOW + TTL)
        found = await plan(db.session, OPEN_BY_PATIENT, NOW, like="waiting")
    assert "checkouts_open_by_patient" in found


async def test_two_checkouts_started_at_once_one_below_the_cap_are_one_accepted_one_refused(
    transaction: Transaction, engine, unit
):
    intake = an_intake()
    await store(transaction, intake, a_checkout(intake))
    payments = PaymentHeldOpen(engine)
    ctx = Context(
        unit_of_work=lambda: unit(sessionmaker(engine)),
        payments=payments,
        triage=RULES,
        # Chat streams are not what this test is about.
        chats=FakeWatch(),
        settings=ConsultationSettings(max_open_checkouts=2, checkout_ttl=TTL),
        clock=lambda: NOW,
    )

    async def start(key: str):
        command = StartCheckout("patient-1", key, intake.id, CHAT, None, PaymentMethod.GATEWAY)
        return await start_checkout(ctx, ctx.unit_of_work(), command)

    answers = await asyncio.gather(start("key-2"), start("key-3"), return_exceptions=True)

    assert len([a for a in answers if isinstance(a, Checkout)]) == 1
    [refused] = [a for a in answers if not isinstance(a, Checkout)]
    assert isinstance(refused, TooManyOpenCheckouts), refused
    assert len(payments.orders) == 1
    async with transaction() as db:
        assert (await db.checkouts.open_of("patient-1", NOW)).count == 2
