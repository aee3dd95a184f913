"""Payment's housekeeping against a real PostgreSQL: webhook event ids go once a gateway
can no longer redeliver them as the same event; payments, their ledger and their history
are never touched. A database from before payment_0004 gains the indexes it reads by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from runtime.retention import Retention
from services.payment.adapters.unit_of_work import PaymentUnitOfWork
from stack.databases import Databases
from stack.local import ROOT
from tests.integration.notification.test_migrations import execute, migrated, rewound_and_upgraded
from tests.integration.purging import purged_so_far, run_purge_job

# An instant in the past: a row the database stamps now is never older than the window.
NOW = datetime(2025, 11, 2, 6, 30, tzinfo=UTC)
DAY = timedelta(days=1)
MIGRATIONS = ROOT / "services" / "payment" / "migrations"


async def test_webhook_event_ids_go_after_the_idempotency_window(engine):
    stamps = {"old": NOW - Retention().idempotency_keys - DAY, "recent": NOW - DAY}
    async with engine.begin() as conn:
        for event_id, at in stamps.items():
            await conn.execute(
                text(
                    "INSERT INTO webhook_events (event_id, event_type, payment_id, received_at)"
                    " VALUES (:id, 'checkout.session.completed', 'payment-1', :at)"
                ),
                {"id": event_id, "at": at},
            )
    before = purged_so_far("webhook_events")

    await run_purge_job(PaymentUnitOfWork, engine, at=NOW)

    async with engine.connect() as conn:
        left = {row[0] for row in await conn.execute(text("SELECT event_id FROM webhook_events"))}
    assert left == {"recent"}
    assert purged_so_far("webhook_events") - before == 1


async def test_a_database_from_before_payment_0004_gains_the_purges_indexes(postgres: Databases):
    indexes = ("inbox_by_receipt", "webhook_events_by_receipt")
    async with migrated(postgres, MIGRATIONS) as url:
        await rewound_and_upgraded(
            url, MIGRATIONS, "payment_0003", *(f"DROP INDEX {name}" for name in indexes)
        )
        found = await execute(
            url, "SELECT indexname FROM pg_indexes WHERE indexname IN " + str(indexes)
        )
        assert sorted(row[0] for row in found) == sorted(indexes)
