"""Tables every service database has: the outbox, the inbox, dead letters and idempotency keys.

Each service's first migration calls `create_runtime_tables`, so the four databases
share one definition instead of four copies.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Connection

OUTBOX_CHANNEL = "nobat_outbox"

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

# The NOTIFY is sent by the database at commit, so a writer cannot forget it and a
# rolled-back transaction wakes nobody. Since the relay is handed its process's commits
# and polls for the rest, nothing listens on this channel; the trigger goes with the
# next migration of the runtime's tables.
for statement in (
    f"""
    CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger AS $$
    BEGIN PERFORM pg_notify('{OUTBOX_CHANNEL}', ''); RETURN NULL; END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()
    """,
):
    event.listen(outbox, "after_create", DDL(statement))

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
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
    connection.execute(text("DROP FUNCTION IF EXISTS outbox_notify()"))
