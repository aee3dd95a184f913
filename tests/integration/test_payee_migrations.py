"""The revisions behind payees following the work bring a database made before them up to
today's schema: payment's payouts per payee (a payout made before is its line's first
payee, assignment 0) and who holds each line now, and consultation's count of the payees
it told."""

from __future__ import annotations

import pytest

from stack.databases import Databases
from stack.local import ROOT
from tests.integration.notification.test_migrations import (
    execute,
    migrated,
    rewound_and_upgraded,
)

# What each service's database was before its revision, and what the revision gave it.
BEFORE = {
    "payment": (
        "payment_0004",
        "DROP TABLE line_payees",
        "DROP INDEX payouts_per_assignment",
        "DROP INDEX payouts_current",
        "ALTER TABLE payouts DROP COLUMN assignment, DROP COLUMN moved_at",
        "ALTER TABLE payouts ADD UNIQUE (payment_id, line)",
    ),
    "consultation": (
        "consultation_0005",
        "ALTER TABLE consultations DROP COLUMN payee_changes",
    ),
}
FOUND = {
    "payment": (
        "SELECT to_regclass('line_payees') IS NOT NULL,"
        " to_regclass('payouts_current') IS NOT NULL,"
        " (SELECT count(*) FROM information_schema.columns WHERE table_name = 'payouts'"
        "   AND column_name IN ('assignment', 'moved_at')),"
        " (SELECT column_default FROM information_schema.columns"
        "   WHERE table_name = 'payouts' AND column_name = 'assignment'),"
        # The one payout a line could have is no longer the only one it may have.
        " (SELECT count(*) FROM pg_constraint WHERE conname = 'payouts_payment_id_line_key')",
        [(True, True, 2, None, 0)],
    ),
    "consultation": (
        "SELECT is_nullable, column_default FROM information_schema.columns"
        " WHERE table_name = 'consultations' AND column_name = 'payee_changes'",
        [("NO", None)],
    ),
}


@pytest.mark.parametrize("service", sorted(BEFORE))
async def test_a_database_from_before_payees_followed_the_work_gains_their_schema(
    postgres: Databases, service: str
):
    migrations = ROOT / "services" / service / "migrations"
    revision, *undo = BEFORE[service]
    query, expected = FOUND[service]
    async with migrated(postgres, migrations) as url:
        await rewound_and_upgraded(url, migrations, revision, *undo)
        assert await execute(url, query) == expected
