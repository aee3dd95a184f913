"""Consultation's housekeeping against a real PostgreSQL: an expired checkout and an
intake nobody bought go once past their window; what was paid for, and the intake it was
bought from, stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from runtime.retention import Retention
from tests.integration.conftest import store
from tests.integration.consultation.conftest import Repositories, Transaction
from tests.integration.purging import run_purge_job
from tests.unit.consultation.builders import NOW, a_checkout, an_intake, confirm

DAY = timedelta(days=1)
LONG_AGO = NOW - Retention().expired - 2 * DAY


async def ids(engine, table: str) -> set[str]:
    async with engine.connect() as conn:
        return {row[0] for row in await conn.execute(text(f"SELECT id FROM {table}"))}


async def test_expired_checkouts_and_unbought_intakes_go_and_paid_ones_stay(
    engine, transaction: Transaction
):
    unbought = an_intake(intake_id="unbought", now=LONG_AGO)
    abandoned = an_intake(intake_id="abandoned", now=LONG_AGO)
    expired = a_checkout(abandoned, checkout_id="expired", now=LONG_AGO)
    expired.expire(LONG_AGO)
    bought = an_intake(intake_id="bought", now=LONG_AGO)
    paid = a_checkout(bought, checkout_id="paid", now=LONG_AGO)
    session = confirm(paid, at=LONG_AGO)
    assert session is not None
    recent = an_intake(intake_id="recent", now=NOW - DAY)
    lately = a_checkout(recent, checkout_id="expired-lately", now=NOW - DAY)
    lately.expire(NOW - DAY)
    await store(transaction, unbought, abandoned, expired, bought, paid, session, recent, lately)

    await run_purge_job(Repositories, engine, at=NOW)

    assert await ids(engine, "checkouts") == {"paid", "expired-lately"}
    # The abandoned checkout's intake goes in the same run, once its checkout has gone.
    assert await ids(engine, "intakes") == {"bought", "recent"}
    assert await ids(engine, "clinical_sessions") == {session.id}
