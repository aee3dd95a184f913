"""Facts turned into notifications against a real PostgreSQL, many at once: each user's
feed numbered 1, 2, 3… without a gap or a repeat, and a fact handled twice at the same
time still one notification per recipient."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.db import sessionmaker
from services.notification.adapters import facts
from services.notification.adapters.unit_of_work import NotificationUnitOfWork
from services.notification.domain.contact import Channel, Contact, ContactChannel, Locale
from services.notification.handlers.context import Context
from services.notification.handlers.facts import Notify, notify
from tests.unit.fakes import FakeWatch
from tests.unit.notification import events
from tests.unit.notification.fakes import RecordingSender

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)


@pytest.fixture
def ctx(engine: AsyncEngine) -> Context:
    sessions = sessionmaker(engine)
    return Context(
        lambda: NotificationUnitOfWork(sessions),
        dict.fromkeys(Channel, RecordingSender()),
        FakeWatch(),
        clock=lambda: NOW,
    )


async def rows(engine: AsyncEngine, sql: str, **params: object) -> list:
    async with engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def sequences(engine: AsyncEngine, user_id: str) -> list[int]:
    found = await rows(
        engine, "SELECT sequence FROM notifications WHERE user_id = :u ORDER BY 1", u=user_id
    )
    return [row.sequence for row in found]


async def last_sequence(engine: AsyncEngine, user_id: str) -> int:
    [row] = await rows(engine, "SELECT last_sequence FROM feeds WHERE user_id = :u", u=user_id)
    return row.last_sequence


async def test_facts_for_one_user_handled_at_once_are_numbered_without_gaps_or_repeats(ctx, engine):
    news = [facts.payment_failed(events.payment_failed("patient-1")) for _ in range(12)]
    await asyncio.gather(*(notify(ctx, ctx.unit_of_work(), Notify(fact)) for fact in news))
    assert await sequences(engine, "patient-1") == list(range(1, 13))
    assert await last_sequence(engine, "patient-1") == 12


async def test_one_fact_handled_twice_at_once_notifies_each_recipient_once(ctx, engine):
    for round_ in range(5):
        fact = facts.reservation_confirmed(events.reservation_confirmed("patient-1", "doctor-1"))
        made = await asyncio.gather(
            *(notify(ctx, ctx.unit_of_work(), Notify(fact)) for _ in range(3))
        )
        # Whichever copy got the feeds first made both; the others found them made.
        assert sorted(len(created) for created in made) == [0, 0, 2]
        assert await sequences(engine, "patient-1") == list(range(1, round_ + 2))
        assert await last_sequence(engine, "patient-1") == round_ + 1
        assert await last_sequence(engine, "doctor-1") == round_ + 1


async def test_a_user_named_twice_in_one_fact_gets_a_number_for_each(ctx, engine):
    # A doctor booked with themselves: told once as the patient, once as the doctor.
    fact = facts.reservation_confirmed(events.reservation_confirmed("doctor-1", "doctor-1"))
    created = await notify(ctx, ctx.unit_of_work(), Notify(fact))
    assert sorted(n.sequence for n in created) == [1, 2]
    assert await sequences(engine, "doctor-1") == [1, 2]
    assert await last_sequence(engine, "doctor-1") == 2


async def test_a_notification_is_stored_with_a_delivery_for_each_enabled_channel(ctx, engine):
    contact = Contact.register(
        user_id="patient-1",
        locale=Locale.EN,
        channels=(
            ContactChannel(Channel.EMAIL, "sara@example.com"),
            ContactChannel(Channel.SMS, "+15551234567"),
            ContactChannel(Channel.PUSH, "device-token", enabled=False),
        ),
        now=NOW,
    )
    async with ctx.unit_of_work() as uow:
        await uow.contacts.save(contact)
        await uow.commit()
    fact = facts.payment_failed(events.payment_failed("patient-1"))
    [created] = await notify(ctx, ctx.unit_of_work(), Notify(fact))
    stored = await rows(
        engine,
        "SELECT notification_id, channel, address, attempts FROM deliveries ORDER BY channel",
    )
    assert [(r.notification_id, r.channel, r.address) for r in stored] == [
        (created.id, "email", "sara@example.com"),
        (created.id, "sms", "+15551234567"),
    ]
    [notification] = await rows(engine, "SELECT locale, title, sequence FROM notifications")
    assert (notification.locale, notification.title) == ("en", created.title)
    assert notification.sequence == created.sequence == 1


async def test_a_recipient_named_twice_in_the_same_part_is_told_once(ctx, engine):
    told = facts.payment_failed(events.payment_failed("patient-1"))
    fact = replace(told, recipients=told.recipients * 2)
    [created] = await notify(ctx, ctx.unit_of_work(), Notify(fact))
    assert created.sequence == 1
    assert await sequences(engine, "patient-1") == [1]
