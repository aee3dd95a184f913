"""Notification's migrations bring a database made before per-contact signing secrets up
to today's schema, as well as a new one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from runtime.migrations import upgrade
from stack.databases import Databases
from stack.local import ROOT

MIGRATIONS = ROOT / "services" / "notification" / "migrations"


async def execute(url: str, *statements: str) -> list:
    """The rows of the last statement, all run in one transaction."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                result = await conn.execute(text(sql))
            return list(result) if result.returns_rows else []
    finally:
        await engine.dispose()


def newest_revision(migrations: Path) -> str:
    """The revision a database migrated today ends at: the service's last file."""
    return max(path.stem for path in migrations.glob(f"{migrations.parent.name}_*.py"))


@contextlib.asynccontextmanager
async def migrated(postgres: Databases, migrations: Path) -> AsyncIterator[str]:
    """A new database migrated to today's revision, dropped afterwards; its URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = await postgres.create(name)
    try:
        await asyncio.to_thread(upgrade, migrations, url)
        yield url
    finally:
        await postgres.drop(name)


async def rewound_and_upgraded(url: str, migrations: Path, revision: str, *undo: str) -> None:
    """Makes the database one that `revision` was the last to migrate (the statements
    `undo` what came after), then upgrades it: the path an older database takes."""
    await execute(url, *undo, f"UPDATE alembic_version SET version_num = '{revision}'")
    await asyncio.to_thread(upgrade, migrations, url)
    [(version,)] = await execute(url, "SELECT version_num FROM alembic_version")
    assert version == newest_revision(migrations)


async def test_a_database_from_before_signing_secrets_gains_their_table(postgres: Databases):
    async with migrated(postgres, MIGRATIONS) as url:
        await rewound_and_upgraded(
            url, MIGRATIONS, "notification_0001", "DROP TABLE signing_secrets"
        )
        found = await execute(url, "SELECT to_regclass('signing_secrets') IS NOT NULL")
        assert found == [(True,)]
