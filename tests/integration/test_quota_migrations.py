"""The quota revisions bring a database made before them up to today's schema: the
partial index open checkouts are counted on (booking, consultation) and the column of
when ConfirmPayment last read the gateway (payment)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from runtime.migrations import upgrade
from stack.databases import Databases
from stack.local import ROOT
from tests.integration.notification.test_migrations import execute

BEFORE = {
    "booking": "DROP INDEX checkouts_open_by_patient",
    "consultation": "DROP INDEX checkouts_open_by_patient",
    "payment": "ALTER TABLE payments DROP COLUMN gateway_checked_at",
}
FOUND = {
    "booking": "SELECT to_regclass('checkouts_open_by_patient') IS NOT NULL",
    "consultation": "SELECT to_regclass('checkouts_open_by_patient') IS NOT NULL",
    "payment": "SELECT count(*) = 1 FROM information_schema.columns"
    " WHERE table_name = 'payments' AND column_name = 'gateway_checked_at'",
}


@pytest.mark.parametrize("service", sorted(BEFORE))
async def test_a_database_from_before_the_quotas_gains_what_they_count_on(
    postgres: Databases, service: str
):
    migrations = ROOT / "services" / service / "migrations"
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = await postgres.create(name)
    try:
        await asyncio.to_thread(upgrade, migrations, url)
        # As a database migrated when <service>_0001 was the last revision.
        await execute(
            url, BEFORE[service], f"UPDATE alembic_version SET version_num = '{service}_0001'"
        )
        await asyncio.to_thread(upgrade, migrations, url)
        newest = max(path.stem for path in migrations.glob(f"{service}_*.py"))
        assert await execute(url, "SELECT version_num FROM alembic_version") == [(newest,)]
        assert await execute(url, FOUND[service]) == [(True,)]
    finally:
        await postgres.drop(name)
