"""What the integration tests of the cap on a patient's open checkouts share, in booking
and in consultation: the plan of the count, and a payment service that keeps the first of
two checkouts in flight until the second is waiting for the patient's lock (or, were
there no lock, has reached payment too), so the two overlap on every run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.payment import OpenedAttempt, PaymentOrder
from purchasing.tables import OpenByPatient
from runtime.sql import Session
from tests.processes import eventually

# Advisory locks waited for in this test's own database (the server is shared).
_WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class PaymentHeldOpen:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.orders: list[PaymentOrder] = []

    async def open(self, order: PaymentOrder) -> OpenedAttempt:
        self.orders.append(order)
        if len(self.orders) == 1:
            await eventually(self._second_waits, 20, "a second checkout at the lock or here")
        ref = order.purchase_ref
        return OpenedAttempt(f"payment-{ref}", f"attempt-{ref}", f"https://pay.example/{ref}")

    async def _second_waits(self) -> bool:
        if len(self.orders) > 1:
            return True
        async with self.engine.connect() as conn:
            return (await conn.execute(_WAITING)).scalar_one() > 0


async def plan(session: Session, open_by_patient: OpenByPatient, now: datetime, like: str) -> str:
    """How PostgreSQL counts patient-1's open checkouts among thousands of other patients'
    (copies of the checkout `like`), with fresh statistics."""
    table = open_by_patient.table.name
    await session.execute(
        text(
            f"INSERT INTO {table} SELECT (jsonb_populate_record(c, jsonb_build_object("
            "'id', 'copy-' || n, 'patient_id', 'other-' || n))).*"
            f" FROM {table} c, generate_series(1, 5000) n WHERE c.id = :like"
        ),
        {"like": like},
    )
    await session.execute(text(f"ANALYZE {table}"))
    query = open_by_patient.query("patient-1", now).compile(
        dialect=postgresql.asyncpg.dialect(), compile_kwargs={"literal_binds": True}
    )
    rows = await session.execute(text(f"EXPLAIN {query}"))
    return "\n".join(rows.scalars())
