"""Tables every service database has: the outbox, the inbox, dead letters and idempotency keys.

Each service's first migration calls `create_runtime_tables`, so the four databases
share one definition instead of four copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum

from alembic import op
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Connection

from runtime.columns import sql_list

metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    # The relay only ever scans unpublished rows, so its cost does not grow with history.
    Index(
        "outbox_unpublished",
        "id",
        postgresql_where=text("published_at IS NULL"),
    ),
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # What housekeeping finds past its use by (runtime.purge).
    Index("inbox_by_receipt", "received_at"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("consumer", Text, nullable=False),
    Column("event_id", Text),
    Column("subject", Text, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", LargeBinary, nullable=False),
    Column("response", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("idempotency_keys_created_at", "created_at"),
)


def create_runtime_tables(connection: Connection) -> None:
    metadata.create_all(connection)


def drop_runtime_tables(connection: Connection) -> None:
    metadata.drop_all(connection)
    connection.execute(text(_NO_OUTBOX_NOTIFY[1]))


# The outbox used to NOTIFY its relay of every insert. The relay is now handed its own
# process's commits and polls for the rest, so nothing listened any more; each service's
# migration after runtime_0001 drops the trigger (a new database never gets it).
_NO_OUTBOX_NOTIFY = (
    "DROP TRIGGER IF EXISTS outbox_notify ON outbox",
    "DROP FUNCTION IF EXISTS outbox_notify()",
)


def outbox_notify_dropped() -> tuple[Callable[[], None], Callable[[], None]]:
    """The upgrade and downgrade of each service's revision that drops the trigger."""

    def upgrade() -> None:
        for statement in _NO_OUTBOX_NOTIFY:
            op.execute(statement)

    def downgrade() -> None:
        """Nothing to put back: no relay that listened reads this database any more."""

    return upgrade, downgrade


def indexes_added(*indexes: Index) -> tuple[Callable[[], None], Callable[[], None]]:
    """The upgrade and downgrade of a revision that adds `indexes`: a database made by
    today's first revisions has them already, one made before lacks them."""

    def upgrade() -> None:
        for index in indexes:
            index.create(op.get_bind(), checkfirst=True)

    def downgrade() -> None:
        for index in indexes:
            index.drop(op.get_bind(), checkfirst=True)

    return upgrade, downgrade


INBOX_BY_RECEIPT = next(index for index in inbox.indexes if index.name == "inbox_by_receipt")


def values_added(
    table: str, column: str, values: type[Enum], *added: Enum
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The upgrade and downgrade of a revision that lets `table.column` (checked by
    runtime.columns.one_of, a constraint PostgreSQL names `<table>_<column>_check`) hold
    the members `added` to its enum: the check is made again from the enum as it is now,
    which a database made by today's first revisions has already."""
    name = f"{table}_{column}_check"

    def allow(members: Iterable[Enum]) -> None:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
        allowed = sql_list(member.value for member in members)
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} IN ({allowed}))")

    def upgrade() -> None:
        allow(values)

    def downgrade() -> None:
        allow(member for member in values if member not in added)

    return upgrade, downgrade


def one_after_another(
    *changes: tuple[Callable[[], None], Callable[[], None]],
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The upgrade and downgrade of a revision made of several `changes`: upgraded in
    order, downgraded in reverse."""

    def upgrade() -> None:
        for change, _ in changes:
            change()

    def downgrade() -> None:
        for _, change in reversed(changes):
            change()

    return upgrade, downgrade
