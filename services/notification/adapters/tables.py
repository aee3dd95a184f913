"""Notification's tables. What the schema can hold it holds: one notification per fact and
recipient (derived primary keys), sequences without repeats per user, one delivery per
notification and channel, no delivery in a state the domain cannot reach.

A committed notification NOTIFYs its user's id, so live streams wake at once instead of
waiting for their next poll; like the outbox's, the trigger fires at commit time only for
rows that made it.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from runtime.columns import instant, one_of
from runtime.streams import notify_trigger
from services.notification.domain.contact import Channel, Locale
from services.notification.domain.delivery import OPEN, DeliveryStatus
from services.notification.domain.facts import Kind

FEED_CHANNEL = "nobat_notification_feed"

metadata = MetaData()

OPEN_STATUSES = tuple(sorted(status.value for status in OPEN))
_IS_OPEN = f"status IN ({', '.join(repr(status) for status in OPEN_STATUSES)})"


contacts = Table(
    "contacts",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("locale", Text, one_of("locale", Locale), nullable=False),
    # [{channel, address, enabled}] in the order the user gave them.
    Column("channels", JSONB, CheckConstraint("jsonb_typeof(channels) = 'array'"), nullable=False),
    instant("updated_at", nullable=False),
)

# The secret each contact's webhook is signed with (domain/contact.py): a row while the
# contact has a webhook channel, read by the delivery job without the contacts.
signing_secrets = Table(
    "signing_secrets",
    metadata,
    Column("user_id", Text, ForeignKey("contacts.user_id"), primary_key=True),
    Column("secret", Text, CheckConstraint("secret <> ''"), nullable=False),
)

# Booking's directory as far as notifications need it: the name to write and the time
# zone appointments are told in.
doctors = Table(
    "doctors",
    metadata,
    Column("id", Text, primary_key=True),
    Column("display_name", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    instant("updated_at", nullable=False),
)

# The last sequence given in each user's feed. Its row lock serialises the notifications
# of one user, so their sequences commit in order and without gaps: a stream that has
# seen sequence n never later finds a smaller one appear.
feeds = Table(
    "feeds",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("last_sequence", BigInteger, CheckConstraint("last_sequence >= 0"), nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("sequence", BigInteger, CheckConstraint("sequence > 0"), nullable=False),
    Column("kind", Text, one_of("kind", Kind), nullable=False),
    Column("locale", Text, one_of("locale", Locale), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    instant("created_at", nullable=False),
    instant("read_at"),
    # Also the index of the feed, the inbox pages and the live stream.
    UniqueConstraint("user_id", "sequence", name="notifications_one_per_user_sequence"),
    Index("notifications_unread", "user_id", "sequence", postgresql_where=text("read_at IS NULL")),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("notification_id", Text, ForeignKey("notifications.id"), nullable=False),
    Column("channel", Text, one_of("channel", Channel), nullable=False),
    Column("address", Text, nullable=False),
    Column("status", Text, one_of("status", DeliveryStatus), nullable=False),
    Column("attempts", Integer, CheckConstraint("attempts >= 0"), nullable=False),
    Column("last_error", Text, nullable=False),
    instant("next_attempt_at"),
    instant("delivered_at"),
    instant("created_at", nullable=False),
    UniqueConstraint("notification_id", "channel", name="deliveries_one_per_channel"),
    CheckConstraint(
        f"({_IS_OPEN}) = (next_attempt_at IS NOT NULL)",
        name="deliveries_open_are_scheduled",
    ),
    CheckConstraint(
        "(status = 'delivered') = (delivered_at IS NOT NULL)", name="deliveries_delivered_at"
    ),
    # The delivery job reads only what is still open, so its cost does not grow with history.
    Index(
        "deliveries_due",
        "next_attempt_at",
        postgresql_where=text(_IS_OPEN),
    ),
)

for statement in (
    notify_trigger("notification_feed_notify", FEED_CHANNEL, "user_id"),
    """
    CREATE TRIGGER notification_feed_notify AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION notification_feed_notify()
    """,
):
    event.listen(notifications, "after_create", DDL(statement))
event.listen(notifications, "after_drop", DDL("DROP FUNCTION IF EXISTS notification_feed_notify()"))
