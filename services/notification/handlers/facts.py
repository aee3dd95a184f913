"""Facts from other contexts, turned into notifications: one per recipient, in their
inbox and sequence, with a pending delivery per channel they can be reached on. Sending is
the delivery job's work, never the consumer's, so a slow channel never holds up events."""

from __future__ import annotations

from dataclasses import dataclass

from services.notification.domain.facts import Fact
from services.notification.domain.notification import (
    DoctorListing,
    Notification,
    compose,
    notification_id,
)
from services.notification.handlers.context import Context
from services.notification.handlers.unit_of_work import NotificationUnit


@dataclass(frozen=True)
class Notify:
    """Tell a fact's recipients about it (the consumer's reading of another context's event)."""

    fact: Fact


@dataclass(frozen=True)
class DoctorUpdated:
    """Booking's directory entry of a doctor, as notifications name and time them."""

    listing: DoctorListing


async def notify(ctx: Context, uow: NotificationUnit, cmd: Notify) -> list[Notification]:
    """The notifications the fact created; none for recipients who already have theirs."""
    fact = cmd.fact
    async with uow:
        doctor = await uow.doctors.get(fact.doctor_id) if fact.doctor_id else None
        created = []
        for recipient in fact.recipients:
            # The feed's lock first: a second copy of this fact, handled at the same time
            # elsewhere, waits here and then finds the notification below.
            last = await uow.feeds.lock(recipient.user_id)
            if await uow.notifications.exists(notification_id(fact.key, recipient)):
                continue
            contact = await uow.contacts.get(recipient.user_id)
            notification = compose(
                fact,
                recipient,
                locale=contact.locale if contact else ctx.settings.default_locale,
                sequence=last + 1,
                channels=contact.reachable() if contact else (),
                doctor=doctor,
                default_zone=ctx.settings.default_zone,
                now=ctx.clock(),
            )
            await uow.notifications.add(notification)
            await uow.feeds.advance(recipient.user_id, notification.sequence)
            created.append(notification)
        await uow.commit()
        return created


async def doctor_updated(ctx: Context, uow: NotificationUnit, news: DoctorUpdated) -> None:
    async with uow:
        await uow.doctors.save_if_newer(news.listing)
        await uow.commit()
