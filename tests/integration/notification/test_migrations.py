"""Notification's migrations bring a database made before per-contact signing secrets up
to today's schema, as well as a new one."""

from __future__ import annotations

import asyncio
import uuid

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


async def test_a_database_from_before_signing_secrets_gains_their_table(postgres: Databases):
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = await postgres.create(name)
    try:
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        # As a database migrated when notification_0001 was the last revision.
        await execute(
            url,
            "DROP TABLE signing_secrets",
            "UPDATE alembic_version SET version_num = 'notification_0001'",
        )
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        [(version,)] = await execute(url, "SELECT version_num FROM alembic_version")
        assert version == "notification_0002"
        found = await execute(url, "SELECT to_regclass('signing_secrets') IS NOT NULL")
        assert found == [(True,)]
    finally:
        await postgres.drop(name)
