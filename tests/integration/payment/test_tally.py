"""The gauges' periodic count against a real PostgreSQL: it reads only the indexes of
what is waiting, never the whole table, so its cost does not grow with the history of
payments (every replica runs it every NOBAT_PAYMENT_TALLY_SECONDS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from services.payment.adapters.repository import DUE_FOR_CHECK, WAITING_TALLY
from services.payment.adapters.tables import WAITING
from services.payment.domain.payment import WAITING_STATUSES


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (WAITING_TALLY, "payments_waiting"),
        (DUE_FOR_CHECK.params(now=datetime(2026, 3, 1, 9, 30, tzinfo=UTC)), "payments_due_check"),
    ],
    ids=["waiting", "due-for-check"],
)
async def test_the_count_reads_an_index_of_what_waits_not_the_table(engine, query, index):
    # With sequential scans priced out, a plan still scanning the table would mean the
    # query's condition does not imply the partial index's (a status the index lacks).
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    async with engine.connect() as conn:
        await conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await conn.execute(text(f"EXPLAIN {compiled}")))
    assert index in plan, plan
    assert "Seq Scan on payments" not in plan, plan


def test_the_index_names_every_waiting_status_of_the_domain():
    named = {status.strip(" '") for status in WAITING.text.split("(")[1].rstrip(")").split(",")}
    assert named == {status.value for status in WAITING_STATUSES}
