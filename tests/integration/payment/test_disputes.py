"""Disputes on a real PostgreSQL: the case and its ledger postings stored once, the
payout job passing over a payment an open dispute holds, and `nobat check`'s dispute
rules, which hold through a dispute's life and catch money not where the case says."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cli import invariants
from runtime.db import sessionmaker
from runtime.events import PAYMENT
from services.payment.adapters.unit_of_work import PaymentUnitOfWork
from services.payment.domain.disputes import DisputeStatus, FraudWarningTruth
from services.payment.handlers import jobs
from services.payment.handlers.context import Context
from services.payment.handlers.gateway import WebhookHint
from services.payment.handlers.payments import SettlePayment, create_payment, settle_payment
from services.payment.handlers.webhooks import ActOnWebhook, act_on_webhook
from tests.unit.payment.fakes import FakeGateway
from tests.unit.payment.test_handlers import APPOINTMENT

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AFTER_HOLD = NOW + timedelta(days=31)


@pytest.fixture
def payment(engine: AsyncEngine) -> Context:
    sessions = sessionmaker(engine)
    return Context(lambda: PaymentUnitOfWork(sessions, PAYMENT), FakeGateway(), clock=lambda: NOW)


async def paid(payment: Context):
    made = await create_payment(payment, payment.unit_of_work(), APPOINTMENT)
    payment.gateway.pay(made.attempts[0].gateway_ref, made.amount)
    return await settle_payment(payment, payment.unit_of_work(), SettlePayment(made.id))


async def webhook(payment: Context, event_id: str, **refs: str) -> bool:
    hint = WebhookHint(event_id, "event", **refs)
    return await act_on_webhook(payment, payment.unit_of_work(), ActOnWebhook(hint))


async def payouts(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT status FROM payouts"))).scalars())


async def rules_broken(database: str) -> list[tuple[str, str]]:
    """What the check finds, but for the outbox, which no relay drains here."""
    found = await invariants.check({"payment": database})
    return [(v.invariant, v.detail) for v in found if v.invariant != "outbox drains"]


async def test_an_open_dispute_holds_the_payout_and_a_lost_one_reverses_it(
    payment, engine, database
):
    made = await paid(payment)
    payment.gateway.dispute("dp_1", made, DisputeStatus.OPEN)
    await webhook(payment, "evt_1", dispute_ref="dp_1")
    later = dataclasses.replace(payment, clock=lambda: AFTER_HOLD)

    assert await jobs.release_payouts(later) == 0
    assert await payouts(engine) == ["held"]
    assert await rules_broken(database) == []

    payment.gateway.dispute("dp_1", made, DisputeStatus.LOST)
    await webhook(payment, "evt_2", dispute_ref="dp_1")
    await webhook(payment, "evt_3", dispute_ref="dp_1")

    assert await payouts(engine) == ["reversed"]
    assert await jobs.release_payouts(later) == 0
    assert await rules_broken(database) == []
    async with engine.connect() as conn:
        memos = (await conn.execute(text("SELECT memo FROM ledger_transactions"))).scalars()
        assert sorted(m for m in memos if m.startswith("dispute")) == [
            "dispute_funds_withdrawn",
            "dispute_lost",
        ]


@pytest.mark.parametrize(
    ("tampering", "broken"),
    [
        (
            "UPDATE disputes SET status = 'won', closed_at = opened_at",
            ("disputed money sits in the disputed account", "won: 10000 disputed, 0 expected"),
        ),
        (
            # Paid out to the doctor while the case is open.
            "UPDATE payouts SET status = 'released', released_at = d.opened_at FROM disputes d",
            ("a disputed payment's payouts are held", "open: 1 payouts released after it opened"),
        ),
    ],
    ids=["money-not-where-the-case-says", "payout-released-while-open"],
)
async def test_the_check_reports_a_dispute_whose_money_is_not_where_the_case_says(
    payment, engine, database, tampering, broken
):
    made = await paid(payment)
    payment.gateway.dispute("dp_1", made, DisputeStatus.OPEN)
    await webhook(payment, "evt_1", dispute_ref="dp_1")
    async with engine.begin() as conn:
        await conn.execute(text(tampering))

    assert await rules_broken(database) == [broken]


async def test_a_fraud_warning_is_stored_once_with_its_refund(payment, engine):
    made = await paid(payment)
    warning = FraudWarningTruth("issfr_1", made.id, "made_with_stolen_card", True)
    payment.gateway.fraud_warnings["issfr_1"] = warning

    assert await webhook(payment, "evt_1", fraud_warning_ref="issfr_1")
    assert await webhook(payment, "evt_2", fraud_warning_ref="issfr_1")

    async with engine.connect() as conn:
        rows = list(await conn.execute(text("SELECT refund_id, fraud_type FROM fraud_warnings")))
        statuses = list((await conn.execute(text("SELECT status FROM refunds"))).scalars())
    assert [(bool(refund), kind) for refund, kind in rows] == [(True, "made_with_stolen_card")]
    assert statuses == ["succeeded"]


# Booking's reservations as the check reads them, here in payment's own database.
RESERVATIONS = (
    "CREATE TABLE reservations (id text PRIMARY KEY, payment_id text NOT NULL,"
    " slot_id text NOT NULL, doctor_id text, price_minor bigint NOT NULL,"
    " currency text NOT NULL, status text NOT NULL)"
)


async def test_the_check_reports_a_reservation_left_live_after_its_payment_was_voided(
    payment, engine, database
):
    made = await paid(payment)
    async with engine.begin() as conn:
        await conn.execute(text(RESERVATIONS))
        await conn.execute(
            text(
                "INSERT INTO reservations VALUES"
                " ('reservation-1', :payment, 'slot-1', :doctor, 10000, 'USD', 'confirmed')"
            ),
            {"payment": made.id, "doctor": made.lines[0].payee_id},
        )
    databases = {"payment": database, "booking": database}

    def voided_rules(found) -> list[tuple[str, str]]:
        return [
            (v.invariant, v.subject) for v in found if "voided" in v.detail or "fraud" in v.detail
        ]

    assert voided_rules(await invariants.check(databases)) == []
    payment.gateway.fraud_warnings["issfr_1"] = FraudWarningTruth(
        "issfr_1", made.id, "made_with_stolen_card", True
    )
    await webhook(payment, "evt_1", fraud_warning_ref="issfr_1")

    assert voided_rules(await invariants.check(databases)) == [
        ("no record without payment", f"booking record of payment {made.id}")
    ]
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE reservations SET status = 'cancelled'"))
    assert voided_rules(await invariants.check(databases)) == []
