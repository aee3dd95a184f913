"""Facts from other contexts, turned into notifications: one per recipient, in their
inbox and sequence, with a pending delivery per channel they can be reached on. Sending is
the delivery job's work, never the consumer's, so a slow channel never holds up events;
the job is woken as soon as the deliveries are committed."""

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
    """The notifications the fact created; none for recipients who already have theirs.

    Two round trips whatever the recipients: one locks their feeds and reads what the
    text needs, one adds the notifications with their deliveries."""
    fact = cmd.fact
    ids = [notification_id(fact.key, recipient) for recipient in fact.recipients]
    async with uow:
        # The feeds' locks first: a second copy of this fact, handled at the same time
        # elsewhere, waits here, and its add then finds the notifications made.
        known = await uow.notifications.addressees(
            [recipient.user_id for recipient in fact.recipients], ids, fact.doctor_id
        )
        last = dict(known.last_sequences)
        now = ctx.clock()
        drafts: list[Notification] = []
        for recipient, made in zip(fact.recipients, ids, strict=True):
            # Made before, or drafted already for a recipient named twice.
            if made in known.notified or any(draft.id == made for draft in drafts):
                continue
            contact = known.contacts.get(recipient.user_id)
            last[recipient.user_id] += 1
            drafts.append(
                compose(
                    fact,
                    recipient,
                    locale=contact.locale if contact else ctx.settings.default_locale,
                    sequence=last[recipient.user_id],
                    channels=contact.reachable() if contact else (),
                    doctor=known.doctor,
                    default_zone=ctx.settings.default_zone,
                    now=now,
                    derived=made,
                )
            )
        created = await uow.notifications.add(drafts)
        if any(notification.deliveries for notification in created):
            uow.after_commit(ctx.deliveries_waiting)
        await uow.commit()
        return created


async def doctor_updated(ctx: Context, uow: NotificationUnit, news: DoctorUpdated) -> None:
    async with uow:
        await uow.doctors.save_if_newer(news.listing)
        await uow.commit()
