"""Notification's repositories in memory, and fakes of what it reaches outside: the
channels it sends through and the live feed's wake-up."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from services.notification.domain.contact import Contact
from services.notification.domain.delivery import Delivery
from services.notification.domain.notification import Addressees, DoctorListing, Notification
from services.notification.handlers.unit_of_work import AfterCommit
from tests.unit.fakes import FakeUnitOfWork, InMemoryRows


class InMemoryContacts(InMemoryRows[Contact]):
    key = "user_id"

    async def signing_secrets(self, user_ids: Collection[str]) -> dict[str, str]:
        return {
            c.user_id: c.signing_secret
            for c in self.all()
            if c.user_id in user_ids and c.signing_secret
        }


class InMemoryDoctors(InMemoryRows[DoctorListing]):
    key = "doctor_id"

    async def save_if_newer(self, listing: DoctorListing) -> None:
        kept = await self.get(listing.doctor_id)
        if kept is None or kept.updated_at < listing.updated_at:
            await self.save(listing)


class InMemoryFeeds(InMemoryRows[int]):
    """Each user's last sequence, by user id."""

    def last(self, user_id: str) -> int:
        return self._rows.get(user_id, 0)

    def advance(self, user_id: str) -> int:
        self._rows[user_id] = self.last(user_id) + 1
        return self._rows[user_id]


class InMemoryDeliveries(InMemoryRows[Delivery]):
    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        due = [delivery for delivery in self.all() if delivery.is_due(now)]
        return sorted(due, key=lambda delivery: delivery.next_attempt_at)[:limit]

    async def save_all(self, batch: Sequence[Delivery]) -> None:
        for delivery in batch:
            await self.save(delivery)

    async def record(self, batch: Sequence[Delivery]) -> set[str]:
        recorded = set()
        for delivery in batch:
            kept = await self.get(delivery.id)
            if kept is not None and kept.is_open and kept.attempts == delivery.attempts:
                await self.save(delivery)
                recorded.add(delivery.id)
        return recorded


class InMemoryNotifications(InMemoryRows[Notification]):
    """Notifications without their deliveries, which `deliveries` keeps, as the tables do:
    a notification read back carries its deliveries as they stand now."""

    def __init__(
        self,
        deliveries: InMemoryDeliveries,
        feeds: InMemoryFeeds,
        contacts: InMemoryContacts,
        doctors: InMemoryDoctors,
    ) -> None:
        super().__init__()
        self._deliveries = deliveries
        self._feeds = feeds
        self._contacts = contacts
        self._doctors = doctors

    async def addressees(
        self, user_ids: Sequence[str], ids: Sequence[str], doctor_id: str
    ) -> Addressees:
        last = {user_id: self._feeds.last(user_id) for user_id in user_ids}
        registered = {user_id: await self._contacts.get(user_id) for user_id in user_ids}
        return Addressees(
            last,
            {user_id: contact for user_id, contact in registered.items() if contact},
            await self._doctors.get(doctor_id) if doctor_id else None,
            frozenset(made for made in ids if made in self._rows),
        )

    async def add(self, drafts: Sequence[Notification]) -> list[Notification]:
        added = []
        for notification in drafts:
            if notification.id in self._rows:
                continue
            notification.sequence = self._feeds.advance(notification.user_id)
            await self.save(replace(notification, deliveries=[]))
            for delivery in notification.deliveries:
                await self._deliveries.save(delivery)
            added.append(notification)
        return added

    async def get_many(self, ids: Collection[str]) -> list[Notification]:
        return [n for n in self.all() if n.id in ids]

    async def after(self, user_id: str, sequence: int, limit: int) -> list[Notification]:
        return [n for n in self.inbox(user_id) if n.sequence > sequence][:limit]

    async def owned(self, user_id: str, ids: Collection[str]) -> set[str]:
        return {n.id for n in self.inbox(user_id) if n.id in ids}

    async def mark_read(
        self, user_id: str, ids: Collection[str], up_to_sequence: int, now: datetime
    ) -> int:
        marked = 0
        for notification in self.inbox(user_id):
            chosen = notification.id in ids or notification.sequence <= up_to_sequence
            if chosen and notification.read_at is None:
                await self.save(replace(notification, read_at=now, deliveries=[]))
                marked += 1
        return marked

    def inbox(self, user_id: str) -> list[Notification]:
        """The user's notifications, oldest first, with their deliveries."""
        mine = [n for n in self.all() if n.user_id == user_id]
        return self._with_deliveries(sorted(mine, key=lambda n: n.sequence))

    def _with_deliveries(self, found: list[Notification]) -> list[Notification]:
        kept = sorted(self._deliveries.all(), key=lambda d: (d.created_at, d.channel.value))
        for notification in found:
            notification.deliveries = [d for d in kept if d.notification_id == notification.id]
        return found


class FakeNotificationUnit(AfterCommit, FakeUnitOfWork):
    """The in-memory unit, running what waits for its commit as the real one does."""


def fake_unit(
    *,
    contacts: Collection[Contact] | InMemoryContacts = (),
    doctors: Collection[DoctorListing] = (),
    deliveries: InMemoryDeliveries | None = None,
) -> FakeNotificationUnit:
    """Notification's unit in memory; `contacts` and `deliveries` may be a test's own
    repositories (one whose store fails, say)."""
    if not isinstance(contacts, InMemoryContacts):
        contacts = InMemoryContacts(*contacts)
    deliveries = deliveries or InMemoryDeliveries()
    feeds = InMemoryFeeds()
    listed = InMemoryDoctors(*doctors)
    return FakeNotificationUnit(
        contacts=contacts,
        doctors=listed,
        feeds=feeds,
        notifications=InMemoryNotifications(deliveries, feeds, contacts, listed),
        deliveries=deliveries,
    )


class RecordingSender:
    """A channel that keeps every try it is given; each try raises the next of `failures`
    until they run out, then the channel accepts."""

    def __init__(self, *failures: Exception) -> None:
        self.tries: list[tuple[Delivery, Notification]] = []
        self._failures = list(failures)

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        self.tries.append((delivery, notification))
        if self._failures:
            raise self._failures.pop(0)


class SilentSender:
    """A channel that takes the message and never answers."""

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        await asyncio.Event().wait()
