"""The cap on a patient's open checkouts against a real PostgreSQL: counted as the domain
counts them, on the partial index, and held when two checkouts start at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from purchasing.checkout import PaymentMethod
from purchasing.errors import TooManyOpenCheckouts
from purchasing.quota import OpenCheckouts, open_checkouts
from runtime.db import sessionmaker
from services.booking.adapters.tables import OPEN_BY_PATIENT
from services.booking.domain.checkout import Checkout
from services.booking.handlers.checkouts import StartCheckout, start_checkout
from services.booking.handlers.context import BookingSettings, Context
from tests.integration.booking.conftest import Transaction
from tests.integration.conftest import store
from tests.integration.open_checkouts import PaymentHeldOpen, plan
from tests.unit.booking.builders import (
    CANCELED_FOR_GOOD,
    DECLINED,
    NOW,
    a_checkout,
    a_doctor,
    a_slot,
    confirm,
)

MINUTE = timedelta(minutes=1)


def slots(count: int):
    return [a_slot(f"slot-{n}", timedelta(days=n)) for n in range(1, count + 1)]


async def test_a_patients_open_checkouts_are_counted_as_the_domain_counts_them(
    transaction: Transaction,
):
    s = slots(7)
    awaiting = a_checkout(s[0], checkout_id="awaiting", now=NOW + MINUTE)
    retryable = a_checkout(s[1], checkout_id="retryable")
    retryable.attempt_failed(DECLINED, slot=s[1], now=NOW)
    failed_for_good = a_checkout(s[2], checkout_id="failed-for-good")
    failed_for_good.attempt_failed(CANCELED_FOR_GOOD, slot=s[2], now=NOW)
    lapsed = a_checkout(s[3], checkout_id="lapsed", now=NOW - 20 * MINUTE)
    paid = a_checkout(s[4], checkout_id="paid")
    confirm(paid, s[4])
    expired = a_checkout(s[5], checkout_id="expired")
    expired.lapse(slot=s[5], now=NOW)
    theirs = a_checkout(s[6], checkout_id="theirs", patient_id="patient-2")
    every = [awaiting, retryable, failed_for_good, lapsed, paid, expired, theirs]
    await store(transaction, a_doctor(), *s, *every)
    now = NOW + 2 * MINUTE

    async with transaction() as db:
        counted = await db.checkouts.open_of("patient-1", now)

    assert counted == open_checkouts(every, "patient-1", now) == OpenCheckouts(2, NOW + 10 * MINUTE)


async def test_the_count_reads_the_partial_index_of_open_checkouts(transaction: Transaction):
    [slot] = slots(1)
    await store(transaction, a_doctor(), slot, a_checkout(slot))

    async with transaction() as db:
        found = await plan(db.session, OPEN_BY_PATIENT, NOW, like="checkout-1")

    assert "checkouts_open_by_patient" in found


async def test_two_checkouts_started_at_once_one_below_the_cap_are_one_accepted_one_refused(
    transaction: Transaction, engine, unit
):
    s = slots(3)
    await store(transaction, a_doctor(), *s, a_checkout(s[0]))
    payments = PaymentHeldOpen(engine)
    settings = BookingSettings(max_open_checkouts=2)
    ctx = Context(lambda: unit(sessionmaker(engine)), payments, settings, clock=lambda: NOW)

    async def start(slot_id: str):
        command = StartCheckout("patient-1", slot_id, slot_id, PaymentMethod.GATEWAY)
        return await start_checkout(ctx, ctx.unit_of_work(), command)

    answers = await asyncio.gather(start("slot-2"), start("slot-3"), return_exceptions=True)

    [accepted] = [a for a in answers if isinstance(a, Checkout)]
    [refused] = [a for a in answers if not isinstance(a, Checkout)]
    assert isinstance(refused, TooManyOpenCheckouts), refused
    assert len(payments.orders) == 1
    async with transaction() as db:
        assert (await db.checkouts.open_of("patient-1", NOW)).count == 2
        other = "slot-3" if accepted.slot_id == "slot-2" else "slot-2"
        assert (await db.slots.get(other)).hold is None
