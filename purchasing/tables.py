"""The columns of a checkout's payment progress, the same in booking's and consultation's
checkouts tables (their migrations made them alike), the row form of that progress, and
how a patient's open checkouts are counted in either."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from alembic import op
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    Index,
    Integer,
    Select,
    Table,
    Text,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.schema import SchemaItem

from purchasing.checkout import OPEN, Checkout, CheckoutStatus, PaymentFailure, PaymentMethod
from purchasing.quota import OpenCheckouts
from runtime.columns import all_or_none, instant, one_of
from runtime.purge import Purge
from runtime.sql import Session


def payment_progress() -> tuple[SchemaItem, ...]:
    """How the checkout is being paid: by which method, at which attempt of which payment,
    what failed, which payments came twice, and when it last changed."""
    return (
        Column("method", Text, one_of("method", PaymentMethod), nullable=False),
        Column("status", Text, one_of("status", CheckoutStatus), nullable=False),
        Column("attempt", Integer, CheckConstraint("attempt > 0"), nullable=False),
        Column("payment_id", Text),
        Column("attempt_id", Text),
        Column("checkout_url", Text),
        Column("failure_code", Text),
        Column("failure_message", Text),
        Column("failure_retryable", Boolean),
        # Payments confirmed after this checkout was settled by another, in arrival order.
        Column("duplicate_payment_ids", ARRAY(Text), nullable=False, server_default=text("'{}'")),
        instant("created_at", nullable=False),
        instant("updated_at", nullable=False),
        all_or_none("failure_code", "failure_message", "failure_retryable"),
    )


def payment_progress_row(checkout: Checkout) -> dict:
    failure = checkout.payment_failure
    return {
        "method": checkout.method.value,
        "status": checkout.status.value,
        "attempt": checkout.attempt,
        "payment_id": checkout.payment_id,
        "attempt_id": checkout.attempt_id,
        "checkout_url": checkout.checkout_url,
        "failure_code": failure.code if failure else None,
        "failure_message": failure.message if failure else None,
        "failure_retryable": failure.retryable if failure else None,
        "duplicate_payment_ids": list(checkout.duplicate_payment_ids),
        "created_at": checkout.created_at,
        "updated_at": checkout.updated_at,
    }


def payment_progress_of(row) -> dict:
    """The keyword arguments of a checkout's payment progress, from its row."""
    return {
        "method": PaymentMethod(row["method"]),
        "status": CheckoutStatus(row["status"]),
        "attempt": row["attempt"],
        "payment_id": row["payment_id"],
        "attempt_id": row["attempt_id"],
        "checkout_url": row["checkout_url"],
        "payment_failure": (
            PaymentFailure(row["failure_code"], row["failure_message"], row["failure_retryable"])
            if row["failure_code"] is not None
            else None
        ),
        "duplicate_payment_ids": tuple(row["duplicate_payment_ids"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class OpenByPatient:
    """A patient's open checkouts in `table`, as purchasing.quota counts them, read from a
    partial index of open checkouts by patient, so the count costs the same however long
    the patient's (and everyone's) history grows."""

    def __init__(self, table: Table, expires_at: Column) -> None:
        self.table = table
        self.expires_at = expires_at
        # Written into the SQL rather than bound, so the count's filter matches the index's.
        values = sorted(status.value for status in OPEN)
        statuses: list[ColumnElement[str]] = [literal_column(f"'{value}'") for value in values]
        self.open = table.c.status.in_(statuses)
        self.index = Index(
            f"{table.name}_open_by_patient",
            table.c.patient_id,
            expires_at,
            postgresql_where=self.open,
        )

    def migration(self) -> tuple[Callable[[], None], Callable[[], None]]:
        """The upgrade and downgrade of the revision that adds the index: the first revision
        creates today's tables, the index among them, on a new database; only a database
        made before this revision lacks it."""

        def upgrade() -> None:
            self.index.create(op.get_bind(), checkfirst=True)

        def downgrade() -> None:
            self.index.drop(op.get_bind())

        return upgrade, downgrade

    async def count(self, session: Session, patient_id: str, now: datetime) -> OpenCheckouts:
        """The patient's checkouts still waiting for payment at `now`, counted under the
        patient's own lock, which the transaction keeps: two new checkouts of one patient
        are counted one after the other, the second seeing the first once it commits (read
        committed takes a snapshot per statement), so no two both pass at one below the cap."""
        key = f"{self.table.name}/open/{patient_id}"
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
        count, first = (await session.execute(self.query(patient_id, now))).one()
        return OpenCheckouts(count, first)

    def query(self, patient_id: str, now: datetime) -> Select:
        """How many of the patient's checkouts wait for payment, and the first expiry."""
        awaiting = CheckoutStatus.AWAITING_PAYMENT.value
        return select(func.count(), func.min(self.expires_at)).where(
            self.table.c.patient_id == patient_id,
            self.open,
            self.expires_at > now,
            or_(self.table.c.status == awaiting, self.table.c.failure_retryable.is_(True)),
        )


def expired_checkouts(table: Table, unless: str = "") -> tuple[Purge, Index]:
    """Housekeeping of `table`'s checkouts (runtime.purge): one that expired unpaid, once
    `Retention.expired` has passed since it last changed, unless `unless` (SQL on the
    checkout, aliased `t`) says something still names it. Never a confirmed or refunded
    one: money came for those. With the partial index the purge reads them by."""
    expired: ColumnElement[str] = literal_column(f"'{CheckoutStatus.EXPIRED.value}'")
    index = Index(
        f"{table.name}_expired_by_change",
        table.c.updated_at,
        postgresql_where=table.c.status == expired,
    )
    past = f"t.status = '{CheckoutStatus.EXPIRED.value}' AND t.updated_at < :cutoff"
    return Purge(table.name, f"{past} AND {unless}" if unless else past, "expired"), index


def newest_first(
    query: Select, at: Column, table: Table, after: tuple[datetime, str] | None
) -> Select:
    """Pages in (at, id) order, newest first; `after` is the (at, id) of the last seen."""
    if after is not None:
        last_at, last_id = after
        query = query.where(tuple_(at, table.c.id) < tuple_(literal(last_at, at.type), last_id))
    return query.order_by(at.desc(), table.c.id.desc())


class CheckoutPages:
    """ListCheckouts' read, for a context's checkouts repository (a runtime.rows.Rows of
    its checkouts table): a patient's checkouts, of one status or any (None), newest
    first, along the (patient_id, created_at, id) index."""

    table: ClassVar[Table]

    async def page(
        self,
        patient_id: str,
        status: CheckoutStatus | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list:
        table = self.table
        query = select(table).where(table.c.patient_id == patient_id)
        if status is not None:
            query = query.where(table.c.status == status.value)
        query = newest_first(query, table.c.created_at, table, after).limit(limit)
        return await self._all(query)  # type: ignore[attr-defined]
