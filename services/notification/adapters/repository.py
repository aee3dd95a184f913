"""Notification's entities in and out of PostgreSQL, converted at this edge."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Text,
    any_,
    bindparam,
    delete,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from runtime import sql
from runtime.columns import sql_list
from runtime.sql import Session
from services.notification.adapters.tables import (
    OPEN_STATUSES,
    contacts,
    deliveries,
    doctors,
    notifications,
    signing_secrets,
)
from services.notification.domain.contact import Channel, Contact, ContactChannel, Locale
from services.notification.domain.delivery import Delivery, DeliveryStatus
from services.notification.domain.facts import Kind
from services.notification.domain.notification import Addressees, DoctorListing, Notification


def _contact(row, signing_secret: str = "") -> Contact:
    return Contact(
        user_id=row["user_id"],
        locale=Locale(row["locale"]),
        channels=tuple(
            ContactChannel(Channel(entry["channel"]), entry["address"], entry["enabled"])
            for entry in row["channels"]
        ),
        updated_at=row["updated_at"],
        signing_secret=signing_secret,
    )


class Contacts:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def get(self, user_id: str) -> Contact | None:
        """The contact, with its signing secret: for the owner's registration to replace."""
        query = (
            select(contacts, signing_secrets.c.secret)
            .outerjoin(signing_secrets)
            .where(contacts.c.user_id == user_id)
        )
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _contact(row, row["secret"] or "")

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
    def __init__(self, session: Session) -> None:
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


# The columns a new delivery is given (_ADD's arrays), as _delivery_row names them.
_DELIVERY_COLUMNS = (
    "id",
    "notification_id",
    "channel",
    "address",
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "created_at",
)


def _notification_row(notification: Notification) -> dict:
    return {
        "id": notification.id,
        "user_id": notification.user_id,
        "kind": notification.kind.value,
        "locale": notification.locale.value,
        "title": notification.title,
        "body": notification.body,
        "subject_id": notification.subject_id,
        "created_at": notification.created_at,
    }


# The recipients' feeds, each made if new and locked by a no-op update (in the order of
# their ids, so two facts naming the same people never wait on each other crosswise), with
# each one's contact, the doctor's listing and which of the fact's notifications exist.
# A notification seen here exists for good; one not seen may still be committed by a copy
# of the fact that held a lock first, which is why _ADD looks again.
_ADDRESSEES = text(
    """
    WITH locked AS (
        INSERT INTO feeds AS feed (user_id, last_sequence)
        SELECT DISTINCT user_id, 0 FROM unnest(CAST(:user_ids AS text[])) AS given (user_id)
        ORDER BY user_id
        ON CONFLICT (user_id) DO UPDATE SET last_sequence = feed.last_sequence
        RETURNING feed.user_id, feed.last_sequence
    )
    SELECT locked.user_id, locked.last_sequence,
           contacts.locale, contacts.channels, contacts.updated_at,
           doctors.id AS doctor_id, doctors.display_name, doctors.time_zone,
           doctors.updated_at AS listed_at,
           (SELECT array_agg(id) FROM notifications
            WHERE id = ANY (CAST(:ids AS text[]))) AS notified
    FROM locked
    LEFT JOIN contacts ON contacts.user_id = locked.user_id
    LEFT JOIN doctors ON doctors.id = :doctor_id
    """
)

# The drafts no copy of the fact has made meanwhile (this statement's snapshot is taken
# under the feeds' locks, so it sees any such copy committed), numbered after each user's
# last sequence in the order given, their feeds advanced to the last number used, and the
# deliveries of those added. One statement: a round trip per fact, not one per row.
_ADD = text(
    """
    WITH given AS (
        SELECT given.*
        FROM unnest(
            CAST(:id AS text[]), CAST(:user_id AS text[]), CAST(:kind AS text[]),
            CAST(:locale AS text[]), CAST(:title AS text[]), CAST(:body AS text[]),
            CAST(:subject_id AS text[]), CAST(:created_at AS timestamptz[])
        ) WITH ORDINALITY
            AS given (id, user_id, kind, locale, title, body, subject_id, created_at, position)
        WHERE NOT EXISTS (SELECT FROM notifications WHERE notifications.id = given.id)
    ),
    added AS (
        INSERT INTO notifications
            (id, user_id, sequence, kind, locale, title, body, subject_id, created_at)
        SELECT given.id, given.user_id,
               feeds.last_sequence
                 + row_number() OVER (PARTITION BY given.user_id ORDER BY given.position),
               given.kind, given.locale, given.title, given.body, given.subject_id,
               given.created_at
        FROM given JOIN feeds ON feeds.user_id = given.user_id
        RETURNING notifications.id, notifications.user_id, notifications.sequence
    ),
    advanced AS (
        UPDATE feeds SET last_sequence = numbered.last
        FROM (SELECT user_id, max(sequence) AS last FROM added GROUP BY user_id) AS numbered
        WHERE feeds.user_id = numbered.user_id
    ),
    delivered AS (
        INSERT INTO deliveries (id, notification_id, channel, address, status, attempts,
                                last_error, next_attempt_at, created_at)
        SELECT sent.*
        FROM unnest(
            CAST(:delivery_id AS text[]), CAST(:delivery_notification_id AS text[]),
            CAST(:delivery_channel AS text[]), CAST(:delivery_address AS text[]),
            CAST(:delivery_status AS text[]), CAST(:delivery_attempts AS integer[]),
            CAST(:delivery_last_error AS text[]),
            CAST(:delivery_next_attempt_at AS timestamptz[]),
            CAST(:delivery_created_at AS timestamptz[])
        ) AS sent (id, notification_id, channel, address, status, attempts, last_error,
                   next_attempt_at, created_at)
        WHERE sent.notification_id IN (SELECT id FROM added)
    )
    SELECT id, sequence FROM added
    """
)


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
    def __init__(self, session: Session) -> None:
        self.session = session

    async def addressees(
        self, user_ids: Sequence[str], ids: Sequence[str], doctor_id: str
    ) -> Addressees:
        """Locks the users' feeds until the commit, and reads what composing needs."""
        rows = await sql.fetch(
            self.session,
            _ADDRESSEES,
            {"user_ids": list(user_ids), "ids": list(ids), "doctor_id": doctor_id},
        )
        last_sequences: dict[str, int] = {}
        registered: dict[str, Contact] = {}
        doctor = None
        notified: frozenset[str] = frozenset()
        for row in rows:
            last_sequences[row["user_id"]] = row["last_sequence"]
            if row["locale"] is not None:
                registered[row["user_id"]] = _contact(row)
            if row["doctor_id"] is not None:
                doctor = DoctorListing(
                    row["doctor_id"], row["display_name"], row["time_zone"], row["listed_at"]
                )
            # The same on every row: the fact's notifications that exist.
            notified = frozenset(row["notified"] or ())
        return Addressees(last_sequences, registered, doctor, notified)

    async def add(self, drafts: Sequence[Notification]) -> list[Notification]:
        """Adds the drafts that do not exist yet, with their deliveries, each numbered
        after its user's last sequence (under the lock `addressees` took); returns those
        added, carrying the sequences they were given."""
        if not drafts:
            return []
        rows = [_notification_row(n) for n in drafts]
        sent = [_delivery_row(d) for n in drafts for d in n.deliveries]
        given = {
            **{name: [row[name] for row in rows] for name in rows[0]},
            **{f"delivery_{name}": [row[name] for row in sent] for name in _DELIVERY_COLUMNS},
        }
        added = {row["id"]: row["sequence"] for row in await sql.fetch(self.session, _ADD, given)}
        for notification in drafts:
            notification.sequence = added.get(notification.id, notification.sequence)
        return [notification for notification in drafts if notification.id in added]

    async def get_many(self, ids: Sequence[str]) -> list[Notification]:
        """The notifications as their senders need them: without their deliveries."""
        rows = await sql.fetch(self.session, _BY_IDS, {"ids": list(ids)})
        return [_notification(row) for row in rows]

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
        chosen: list[ColumnElement[bool]] = [notifications.c.id.in_(ids)] if ids else []
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
    def __init__(self, session: Session) -> None:
        self.session = session

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Open deliveries whose time has come, locked; ones another job holds are skipped."""
        rows = await sql.fetch(self.session, _DUE, {"now": now, "limit": limit})
        return [_delivery(row) for row in rows]

    async def save_all(self, batch: Sequence[Delivery]) -> None:
        """Saves what a delivery's life changes, for the whole batch in one round trip."""
        if batch:
            await sql.execute_many(self.session, _SAVE, [_delivery_change(d) for d in batch])

    async def record(self, batch: Sequence[Delivery]) -> set[str]:
        """Saves each outcome unless another claim took its delivery after this one's
        lease ran out (it counted a further try), or it is finished; the ids saved."""
        if not batch:
            return set()
        changes = [_delivery_change(d) for d in batch]
        given = {name: [change[name] for change in changes] for name in changes[0]}
        return {row["id"] for row in await sql.fetch(self.session, _RECORD, given)}


def _delivery_change(delivery: Delivery) -> dict:
    return {
        "delivery_id": delivery.id,
        "new_status": delivery.status.value,
        "new_attempts": delivery.attempts,
        "new_last_error": delivery.last_error,
        "new_next_attempt_at": delivery.next_attempt_at,
        "new_delivered_at": delivery.delivered_at,
    }


# The courier's and the retry job's statements, built once and run through runtime.sql:
# a delivery is claimed, sent and recorded for every notification of every flow.
_BY_IDS = select(notifications).where(
    notifications.c.id == any_(bindparam("ids", type_=ARRAY(Text)))
)
# Open deliveries whose time has come, locked; ones another job holds are skipped.
_DUE = (
    select(deliveries)
    .where(
        text(f"deliveries.status IN ({sql_list(OPEN_STATUSES)})"),
        deliveries.c.next_attempt_at <= bindparam("now"),
    )
    .order_by(deliveries.c.next_attempt_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
# Built once: what a claim or an outcome changes, never the columns a delivery keeps.
_SAVE = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("delivery_id"))
    .values(
        status=bindparam("new_status"),
        attempts=bindparam("new_attempts"),
        last_error=bindparam("new_last_error"),
        next_attempt_at=bindparam("new_next_attempt_at"),
        delivered_at=bindparam("new_delivered_at"),
    )
)
# The outcomes of a batch's claims in one statement: each only where the delivery is
# still open and has the tries its claim counted.
_RECORD = text(
    f"""
    UPDATE deliveries
    SET status = outcome.status, last_error = outcome.last_error,
        next_attempt_at = outcome.next_attempt_at, delivered_at = outcome.delivered_at
    FROM unnest(
        CAST(:delivery_id AS text[]), CAST(:new_status AS text[]),
        CAST(:new_attempts AS integer[]), CAST(:new_last_error AS text[]),
        CAST(:new_next_attempt_at AS timestamptz[]), CAST(:new_delivered_at AS timestamptz[])
    ) AS outcome (id, status, attempts, last_error, next_attempt_at, delivered_at)
    WHERE deliveries.id = outcome.id AND deliveries.attempts = outcome.attempts
      AND deliveries.status IN ({sql_list(OPEN_STATUSES)})
    RETURNING deliveries.id
    """
)
