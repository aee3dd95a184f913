"""Notification's entities in and out of PostgreSQL, converted at this edge."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notification.adapters.tables import (
    OPEN_STATUSES,
    contacts,
    deliveries,
    doctors,
    feeds,
    notifications,
    signing_secrets,
)
from services.notification.domain.contact import Channel, Contact, ContactChannel, Locale
from services.notification.domain.delivery import Delivery, DeliveryStatus
from services.notification.domain.facts import Kind
from services.notification.domain.notification import DoctorListing, Notification


class Contacts:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str) -> Contact | None:
        """The contact, with its signing secret: for the owner's registration to replace."""
        query = (
            select(contacts, signing_secrets.c.secret)
            .outerjoin(signing_secrets)
            .where(contacts.c.user_id == user_id)
        )
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        return Contact(
            user_id=row["user_id"],
            locale=Locale(row["locale"]),
            channels=tuple(
                ContactChannel(Channel(entry["channel"]), entry["address"], entry["enabled"])
                for entry in row["channels"]
            ),
            updated_at=row["updated_at"],
            signing_secret=row["secret"] or "",
        )

    async def signing_secrets(self, user_ids: Collection[str]) -> dict[str, str]:
        """The webhook signing secret of each of these users who has one."""
        rows = await self.session.execute(
            select(signing_secrets).where(signing_secrets.c.user_id.in_(list(user_ids)))
        )
        return {row.user_id: row.secret for row in rows}

    async def save(self, contact: Contact) -> None:
        row = {
            "user_id": contact.user_id,
            "locale": contact.locale.value,
            "channels": [
                {"channel": c.channel.value, "address": c.address, "enabled": c.enabled}
                for c in contact.channels
            ],
            "updated_at": contact.updated_at,
        }
        await self.session.execute(
            pg_insert(contacts)
            .values(**row)
            .on_conflict_do_update(index_elements=[contacts.c.user_id], set_=row)
        )
        mine = signing_secrets.c.user_id == contact.user_id
        if not contact.signing_secret:
            await self.session.execute(delete(signing_secrets).where(mine))
            return
        secret = {"user_id": contact.user_id, "secret": contact.signing_secret}
        await self.session.execute(
            pg_insert(signing_secrets)
            .values(**secret)
            .on_conflict_do_update(index_elements=[signing_secrets.c.user_id], set_=secret)
        )


class Doctors:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, doctor_id: str) -> DoctorListing | None:
        row = (
            (await self.session.execute(select(doctors).where(doctors.c.id == doctor_id)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return DoctorListing(row["id"], row["display_name"], row["time_zone"], row["updated_at"])

    async def save_if_newer(self, listing: DoctorListing) -> None:
        """Keeps the entry with the newest updated_at, whatever order updates arrive in."""
        row = {
            "id": listing.doctor_id,
            "display_name": listing.display_name,
            "time_zone": listing.time_zone,
            "updated_at": listing.updated_at,
        }
        await self.session.execute(
            pg_insert(doctors)
            .values(**row)
            .on_conflict_do_update(
                index_elements=[doctors.c.id],
                set_=row,
                where=doctors.c.updated_at < listing.updated_at,
            )
        )


class Feeds:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, user_id: str) -> int:
        """The user's last sequence, under the feed row's lock until the commit."""
        await self.session.execute(
            pg_insert(feeds).values(user_id=user_id, last_sequence=0).on_conflict_do_nothing()
        )
        return await self.session.scalar(
            select(feeds.c.last_sequence).where(feeds.c.user_id == user_id).with_for_update()
        )

    async def advance(self, user_id: str, sequence: int) -> None:
        await self.session.execute(
            update(feeds).where(feeds.c.user_id == user_id).values(last_sequence=sequence)
        )


def _delivery(row) -> Delivery:
    return Delivery(
        id=row["id"],
        notification_id=row["notification_id"],
        channel=Channel(row["channel"]),
        address=row["address"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
    )


def _delivery_row(delivery: Delivery) -> dict:
    return {
        "id": delivery.id,
        "notification_id": delivery.notification_id,
        "channel": delivery.channel.value,
        "address": delivery.address,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
    }


def _notification(row) -> Notification:
    return Notification(
        id=row["id"],
        user_id=row["user_id"],
        sequence=row["sequence"],
        kind=Kind(row["kind"]),
        locale=Locale(row["locale"]),
        title=row["title"],
        body=row["body"],
        subject_id=row["subject_id"],
        created_at=row["created_at"],
        read_at=row["read_at"],
    )


class Notifications:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def exists(self, notification_id: str) -> bool:
        found = await self.session.scalar(
            select(notifications.c.id).where(notifications.c.id == notification_id)
        )
        return found is not None

    async def add(self, notification: Notification) -> None:
        await self.session.execute(
            pg_insert(notifications).values(
                id=notification.id,
                user_id=notification.user_id,
                sequence=notification.sequence,
                kind=notification.kind.value,
                locale=notification.locale.value,
                title=notification.title,
                body=notification.body,
                subject_id=notification.subject_id,
                created_at=notification.created_at,
                read_at=notification.read_at,
            )
        )
        if notification.deliveries:
            await self.session.execute(
                pg_insert(deliveries), [_delivery_row(d) for d in notification.deliveries]
            )

    async def get_many(self, ids: Sequence[str]) -> list[Notification]:
        rows = await self.session.execute(select(notifications).where(notifications.c.id.in_(ids)))
        return await self._with_deliveries([_notification(row) for row in rows.mappings()])

    async def page(
        self, user_id: str, *, unread_only: bool, before: int | None, limit: int
    ) -> list[Notification]:
        """Newest first; `before` is the sequence of the last one seen."""
        query = select(notifications).where(notifications.c.user_id == user_id)
        if unread_only:
            query = query.where(notifications.c.read_at.is_(None))
        if before is not None:
            query = query.where(notifications.c.sequence < before)
        rows = await self.session.execute(
            query.order_by(notifications.c.sequence.desc()).limit(limit)
        )
        return await self._with_deliveries([_notification(row) for row in rows.mappings()])

    async def after(self, user_id: str, sequence: int, limit: int) -> list[Notification]:
        """The user's notifications after `sequence`, oldest first."""
        rows = await self.session.execute(
            select(notifications)
            .where(notifications.c.user_id == user_id, notifications.c.sequence > sequence)
            .order_by(notifications.c.sequence)
            .limit(limit)
        )
        return await self._with_deliveries([_notification(row) for row in rows.mappings()])

    async def owned(self, user_id: str, ids: Sequence[str]) -> set[str]:
        rows = await self.session.execute(
            select(notifications.c.id).where(
                notifications.c.user_id == user_id, notifications.c.id.in_(ids)
            )
        )
        return set(rows.scalars())

    async def mark_read(
        self, user_id: str, ids: Sequence[str], up_to_sequence: int, now: datetime
    ) -> int:
        """Marks those of `ids`, and every one up to `up_to_sequence`, that are unread;
        returns how many were."""
        chosen = [notifications.c.id.in_(ids)] if ids else []
        if up_to_sequence:
            chosen.append(notifications.c.sequence <= up_to_sequence)
        marked = await self.session.execute(
            update(notifications)
            .where(
                notifications.c.user_id == user_id,
                notifications.c.read_at.is_(None),
                or_(*chosen),
            )
            .values(read_at=now)
            .returning(notifications.c.id)
        )
        return len(marked.all())

    async def _with_deliveries(self, found: list[Notification]) -> list[Notification]:
        if not found:
            return found
        rows = await self.session.execute(
            select(deliveries)
            .where(deliveries.c.notification_id.in_([n.id for n in found]))
            .order_by(deliveries.c.created_at, deliveries.c.channel)
        )
        by_notification: dict[str, list[Delivery]] = defaultdict(list)
        for row in rows.mappings():
            by_notification[row["notification_id"]].append(_delivery(row))
        for notification in found:
            notification.deliveries = by_notification[notification.id]
        return found


class Deliveries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Open deliveries whose time has come, locked; ones another job holds are skipped."""
        rows = await self.session.execute(
            select(deliveries)
            .where(deliveries.c.status.in_(OPEN_STATUSES), deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_delivery(row) for row in rows.mappings()]

    async def get(self, delivery_id: str, *, for_update: bool = False) -> Delivery | None:
        query = select(deliveries).where(deliveries.c.id == delivery_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return _delivery(row) if row else None

    async def save(self, delivery: Delivery) -> None:
        row = _delivery_row(delivery)
        await self.session.execute(
            update(deliveries).where(deliveries.c.id == delivery.id).values(**row)
        )
