"""Deliveries against a real PostgreSQL: a notification committed by the consumer goes out
at once, through the courier, without waiting for the delivery job's schedule; an outcome
is recorded only by the claim that is still the delivery's."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.db import sessionmaker
from services.notification.adapters import facts
from services.notification.adapters.unit_of_work import NotificationUnitOfWork
from services.notification.domain.contact import Channel, Contact, ContactChannel, Locale
from services.notification.domain.delivery import DeliveryStatus, RetryRules
from services.notification.handlers.context import Context, NotificationSettings
from services.notification.handlers.deliveries import Courier, deliver_due
from services.notification.handlers.facts import Notify, notify
from tests.integration.notification.test_notify import rows
from tests.processes import eventually
from tests.unit.fakes import FakeWatch
from tests.unit.notification import events
from tests.unit.notification.fakes import RecordingSender

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
RULES = RetryRules(lease=timedelta(seconds=60))


async def registered(ctx: Context, user_id: str, *channels: ContactChannel) -> None:
    contact = Contact.register(user_id=user_id, locale=Locale.EN, channels=channels, now=NOW)
    async with ctx.unit_of_work() as uow:
        await uow.contacts.save(contact)
        await uow.commit()


def context(engine: AsyncEngine, sender: RecordingSender, now: datetime = NOW) -> Context:
    sessions = sessionmaker(engine)
    return Context(
        lambda: NotificationUnitOfWork(sessions),
        dict.fromkeys(Channel, sender),
        FakeWatch(),
        NotificationSettings(retry=RULES),
        clock=lambda: now,
    )


async def test_a_committed_notification_is_sent_at_once_on_every_channel(engine):
    sender = RecordingSender()
    ctx = context(engine, sender)
    courier = Courier(lambda: deliver_due(ctx), ctx.settings.batch)
    ctx = replace(ctx, deliveries_waiting=courier.wake)
    await registered(
        ctx,
        "patient-1",
        ContactChannel(Channel.EMAIL, "sara@example.com"),
        ContactChannel(Channel.SMS, "+15551234567"),
    )
    # As the consumer runs it: the handler inside the consumer's own transaction.
    uow = ctx.unit_of_work()
    async with uow:
        [notification] = await notify(
            ctx, uow, Notify(facts.payment_failed(events.payment_failed("patient-1")))
        )
        await asyncio.sleep(0.1)
        assert sender.tries == []
        await uow.commit()

    async def both_delivered() -> bool:
        found = await rows(engine, "SELECT status, attempts FROM deliveries")
        return sorted(found) == [("delivered", 1), ("delivered", 1)]

    await eventually(both_delivered, 5, "both deliveries delivered")
    await courier.close()
    assert {d.channel for d, _ in sender.tries} == {Channel.EMAIL, Channel.SMS}
    assert len(sender.tries) == 2
    assert {sent.id for _, sent in sender.tries} == {notification.id}


async def test_an_outcome_is_recorded_only_by_the_claim_that_still_holds_the_delivery(engine):
    sender = RecordingSender()
    ctx = context(engine, sender)
    await registered(ctx, "patient-1", ContactChannel(Channel.EMAIL, "sara@example.com"))
    await notify(
        ctx, ctx.unit_of_work(), Notify(facts.payment_failed(events.payment_failed("patient-1")))
    )
    async with ctx.unit_of_work() as uow:
        [first] = await uow.deliveries.due(NOW, 10)
        first.claim(NOW, RULES)
        await uow.deliveries.save_all([first])
        await uow.commit()
    # Its lease ran out and another replica claimed it again.
    later = NOW + RULES.lease
    async with ctx.unit_of_work() as uow:
        [second] = await uow.deliveries.due(later, 10)
        second.claim(later, RULES)
        await uow.deliveries.save_all([second])
        await uow.commit()
    first.succeeded(NOW)
    second.succeeded(later)
    async with ctx.unit_of_work() as uow:
        assert await uow.deliveries.record([first, second]) == {second.id}
        # Recorded, it is finished: nothing records over its outcome.
        assert await uow.deliveries.record([second]) == set()
        await uow.commit()
    [kept] = await rows(engine, "SELECT status, attempts, delivered_at FROM deliveries")
    assert (kept.status, kept.attempts, kept.delivered_at) == (
        DeliveryStatus.DELIVERED.value,
        2,
        later,
    )
