"""A third kind of purchase, added without changing payment: a subscription plan, sold by
a purchasing context that exists only in this test. Its consumer of PaymentConfirmed
activates the plan and tells payment the purchase was fulfilled, as booking and
consultation do; payment (a real database, its own handlers and event entry point, as
they are) takes the kind it never heard of end to end; and `nobat check` knows the kind
from the one registry (purchasing/kinds.py), and reports a confirmed payment of a kind
nobody registered as unresolved. A plan a doctor is paid for moves its payout when the new
kind says someone else does the work, as consultation's do. README, "Adding a kind of
purchase", is the recipe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nobat.payment.v1 import events_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cli import invariants
from purchasing.consumer import payment_event_handlers
from purchasing.events import PayeeAssigned, Purchase, PurchaseFulfilled
from purchasing.kinds import KINDS, PurchaseKind
from purchasing.messages import outcome_message, outcome_messages
from purchasing.news import PaymentConfirmed
from runtime.db import sessionmaker
from runtime.events import PAYMENT
from runtime.handling import Handlers
from runtime.money import Money
from services.payment.adapters.unit_of_work import PaymentUnitOfWork
from services.payment.domain.purchase import PayeeKind, PayeeLine, PaymentMethod
from services.payment.domain.purchase import Purchase as PaymentPurchase
from services.payment.entrypoints.events import event_handlers
from services.payment.handlers.context import Context
from services.payment.handlers.payments import (
    CreatePayment,
    SettlePayment,
    create_payment,
    settle_payment,
)
from tests.unit.payment.fakes import FakeGateway

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KIND = "subscription"
PLAN = Money(1_500, "USD")
# The subscription context's own table of what was bought: one row per paid plan.
SUBSCRIPTIONS = (
    "CREATE TABLE subscriptions (id text PRIMARY KEY, payment_id text UNIQUE NOT NULL,"
    " patient_id text NOT NULL, price_minor bigint NOT NULL, currency text NOT NULL,"
    " doctor_id text)"
)


class SubscriptionActivation:
    """The purchasing context standing for seed 003's subscription: a plan becomes active
    when its payment is confirmed, and payment hears that it was fulfilled."""

    def __init__(self, engine: AsyncEngine, patient_id: str) -> None:
        self.engine = engine
        self.patient_id = patient_id
        self.told_payment: list[PurchaseFulfilled] = []
        # payment's events for this kind only, read by purchasing's shared consumer.
        self.handlers = payment_event_handlers(KIND, Handlers(self, {PaymentConfirmed: activate}))

    async def hear(self, event: events_pb2.PaymentConfirmed) -> None:
        concerning = self.handlers[events_pb2.PaymentConfirmed]
        if concerning.concerns(event):
            # Its own unit is itself: the handler writes the plan in a transaction of its own.
            await concerning.handle(event, self)


async def activate(plans: SubscriptionActivation, _uow, news: PaymentConfirmed) -> None:
    async with plans.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO subscriptions VALUES"
                " (:id, :payment, :patient, :price, :currency, NULL)"
                " ON CONFLICT (payment_id) DO NOTHING"
            ),
            {
                "id": f"plan-{news.checkout_id}",
                "payment": news.payment.payment_id,
                "patient": plans.patient_id,
                "price": news.payment.amount.amount_minor,
                "currency": news.payment.amount.currency,
            },
        )
    fulfilled = PurchaseFulfilled(
        news.payment.payment_id, Purchase(KIND, news.checkout_id), news.payment.confirmed_at
    )
    plans.told_payment.append(fulfilled)


@pytest.fixture
def payment(engine: AsyncEngine) -> Context:
    sessions = sessionmaker(engine)
    return Context(lambda: PaymentUnitOfWork(sessions, PAYMENT), FakeGateway(), clock=lambda: NOW)


async def paid_plan(payment: Context, ref: str, doctor_id: str = "") -> str:
    """A plan paid at the gateway for the platform (or a doctor), and settled as the
    webhook does it."""
    payee = PayeeKind.DOCTOR if doctor_id else PayeeKind.PLATFORM
    order = CreatePayment(
        purchase=PaymentPurchase(KIND, ref),
        patient_id="patient-1",
        amount=PLAN,
        lines=(PayeeLine(payee, doctor_id, PLAN, "Monthly plan"),),
        method=PaymentMethod.GATEWAY,
        return_url="https://app.example/back",
    )
    made = await create_payment(payment, payment.unit_of_work(), order)
    payment.gateway.pay(made.attempts[0].gateway_ref, PLAN)
    await settle_payment(payment, payment.unit_of_work(), SettlePayment(made.id))
    return made.id


async def confirmations(engine: AsyncEngine) -> list[events_pb2.PaymentConfirmed]:
    """What payment wrote to its outbox for the relay, read as a consumer reads it."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM outbox WHERE event_type = :type ORDER BY id"),
            {"type": events_pb2.PaymentConfirmed.DESCRIPTOR.full_name},
        )
        return [events_pb2.PaymentConfirmed.FromString(payload) for (payload,) in rows]


async def unresolved(engine: AsyncEngine, database: str) -> list[str]:
    found = await invariants.check({"payment": database, KIND: database})
    return [v.detail for v in found if v.invariant == "one outcome per confirmed payment"]


async def test_a_subscription_is_bought_activated_and_checked_without_changing_payment(
    engine, database, payment, monkeypatch
):
    async with engine.begin() as conn:
        await conn.execute(text(SUBSCRIPTIONS))
    plans = SubscriptionActivation(engine, "patient-1")
    payment_id = await paid_plan(payment, "plan-checkout-1")

    # Not registered yet: checked, the paid plan is nobody's to fulfil.
    assert await unresolved(engine, database) == [
        f"unresolved: no purchasing context knows kind {KIND!r}"
    ]
    monkeypatch.setitem(KINDS, KIND, PurchaseKind(KIND, KIND, "subscriptions"))

    [confirmed] = await confirmations(engine)
    assert (confirmed.purchase.kind, confirmed.amount.amount_minor) == (KIND, 1_500)
    await plans.hear(confirmed)
    await plans.hear(confirmed)  # redelivered: one plan
    # Payment hears the outcome on the subscription context's stream, as it would.
    hears = event_handlers(payment, purchaser=KIND)[events_pb2.PurchaseFulfilled]
    for fulfilled in plans.told_payment:
        await hears(outcome_message(fulfilled), payment.unit_of_work())

    async with engine.connect() as conn:
        active = (await conn.execute(text("SELECT payment_id FROM subscriptions"))).all()
    assert active == [(payment_id,)]
    async with payment.unit_of_work() as uow:
        # Fulfilled: payment's orphan check no longer publishes it again.
        assert await uow.payments.orphans(NOW + timedelta(days=1)) == (0, [])
    assert await unresolved(engine, database) == []


async def test_a_kind_nobody_registered_is_reported_as_unresolved_not_passed_over(
    engine, database, payment
):
    payment_id = await paid_plan(payment, "plan-checkout-2")

    found = await invariants.check({"payment": database})

    assert [(v.invariant, v.subject) for v in found] == [
        ("one outcome per confirmed payment", f"payment {payment_id}"),
        # Nothing relays in this test: the confirmation is still in payment's outbox.
        ("outbox drains", "payment"),
    ]


async def payable(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT owner_id, sum(amount_minor) FROM ledger_entries"
                " WHERE account_kind = 'doctor_payable' GROUP BY owner_id ORDER BY owner_id"
            )
        )
        return dict(rows.all())


async def test_a_plan_handed_to_another_doctor_moves_its_payout_and_the_check_follows(
    engine, database, payment, monkeypatch
):
    """A plan a doctor is paid for (monthly follow-ups, say), handed to another doctor:
    until payment hears it, `nobat check` finds the payout held for the wrong doctor; the
    new kind's PayeeAssigned moves it, once however often and in whatever order it comes."""
    async with engine.begin() as conn:
        await conn.execute(text(SUBSCRIPTIONS))
    doctors = "SELECT payment_id, doctor_id FROM subscriptions"
    monkeypatch.setitem(KINDS, KIND, PurchaseKind(KIND, KIND, "subscriptions", doctors))
    payment_id = await paid_plan(payment, "plan-checkout-3", doctor_id="doctor-1")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO subscriptions"
                " VALUES ('plan-3', :payment, 'patient-1', 1500, 'USD', 'doctor-2')"
            ),
            {"payment": payment_id},
        )

    async def payees_of_record() -> list[str]:
        found = await invariants.check({"payment": database, KIND: database})
        return [v.detail for v in found if v.invariant == "payouts belong to the doctor of record"]

    assert await payees_of_record() == ["held for doctor-1; the doctor of record is doctor-2"]
    net = (await payable(engine))["doctor-1"]

    hears = event_handlers(payment, purchaser=KIND)[events_pb2.PayeeAssigned]
    message = outcome_messages()[PayeeAssigned]
    purchase = Purchase(KIND, "plan-checkout-3")
    for doctor_id, assignment in (("doctor-2", 2), ("doctor-2", 2), ("doctor-1", 1)):
        told = PayeeAssigned(payment_id, purchase, doctor_id, assignment, NOW)
        await hears(message(told), payment.unit_of_work())

    assert await payees_of_record() == []
    # 15.00 less 0.45 platform fee and 0.74 gateway fee, moved whole from one to the other.
    assert net == -1_500 + 45 + 74
    assert await payable(engine) == {"doctor-1": 0, "doctor-2": net}
