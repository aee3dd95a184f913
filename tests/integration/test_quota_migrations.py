"""The quota revisions bring a database made before them up to today's schema: the
partial index open checkouts are counted on (booking, consultation) and the column of
when ConfirmPayment last read the gateway (payment)."""

from __future__ import annotations

import pytest

from stack.databases import Databases
from stack.local import ROOT
from tests.integration.notification.test_migrations import (
    execute,
    migrated,
    rewound_and_upgraded,
)

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
    async with migrated(postgres, migrations) as url:
        await rewound_and_upgraded(url, migrations, f"{service}_0001", BEFORE[service])
        assert await execute(url, FOUND[service]) == [(True,)]


# The revision before each service's drop of the outbox's NOTIFY trigger.
BEFORE_THE_DROP = {
    "booking": "booking_0002",
    "consultation": "consultation_0003",
    "notification": "notification_0002",
    "payment": "payment_0002",
}
OUTBOX_NOTIFY = (
    "CREATE FUNCTION outbox_notify() RETURNS trigger AS $$"
    " BEGIN PERFORM pg_notify('nobat_outbox', ''); RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox"
    " FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()",
)


@pytest.mark.parametrize("service", sorted(BEFORE_THE_DROP))
async def test_the_outbox_notify_trigger_no_relay_listens_to_is_gone(
    postgres: Databases, service: str
):
    migrations = ROOT / "services" / service / "migrations"
    triggers = "SELECT count(*) FROM pg_trigger WHERE tgname = 'outbox_notify'"
    functions = "SELECT count(*) FROM pg_proc WHERE proname = 'outbox_notify'"
    async with migrated(postgres, migrations) as url:
        assert await execute(url, triggers) == [(0,)]
        # As a database made while the relay listened.
        await rewound_and_upgraded(url, migrations, BEFORE_THE_DROP[service], *OUTBOX_NOTIFY)
        assert await execute(url, triggers) == [(0,)]
        assert await execute(url, functions) == [(0,)]
