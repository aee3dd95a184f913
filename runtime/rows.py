"""Rows in and out of PostgreSQL on the hot paths: statements built once, and writes of
only what a transaction changed.

Building a statement is most of what SQLAlchemy costs per call (coercing every value
into a bound parameter, then a cache key over all of them). The statements here are
built once per table (and per set of columns), with named parameters, and the hot ones
run through runtime.sql, compiled once.

A transaction remembers each row as it read or last wrote it (`Snapshots`); saving an
aggregate then updates only the columns that differ, and writes nothing if none do.
A row it never read is upserted whole, as before, so saving twice writes the same row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Select,
    Table,
    Update,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import Insert, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.dml import ReturningInsert

from runtime import sql
from runtime.sql import Session

T = TypeVar("T")

# The parameter naming the row in an update; no column is called so.
ROW_KEY = "row_key"

_built: dict[tuple, Any] = {}
# A statement, of whichever kind its builder makes.
S = TypeVar("S")


def _once(key: tuple, build: Callable[[], S]) -> S:
    statement = _built.get(key)
    if statement is None:
        statement = _built[key] = build()
    return statement


# Cached: a unit builds its repositories, and so their snapshots, for every transaction,
# and reading the primary key's columns each time was a fortieth of booking's CPU.
@functools.cache
def key_column(table: Table) -> Column:
    (column,) = table.primary_key.columns
    return column


def by_key(table: Table, *, for_update: bool = False) -> Select:
    """SELECT the row whose primary key is :row_key (under its lock when `for_update`)."""

    def build() -> Select:
        query = select(table).where(key_column(table) == bindparam(ROW_KEY))
        return query.with_for_update() if for_update else query

    return _once(("by_key", table, for_update), build)


def upsert(table: Table, columns: Iterable[str]) -> Insert:
    """INSERT these columns, or on a clash of the primary key UPDATE them: the statement
    for a whole row; executed with the row as its parameters."""
    names = frozenset(columns)

    def build() -> Insert:
        statement = pg_insert(table)
        keys = [column.name for column in table.primary_key.columns]
        return statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: statement.excluded[name] for name in sorted(names) if name not in keys},
        )

    return _once(("upsert", table, names), build)


def claim(table: Table) -> ReturningInsert[Any]:
    """INSERT a row (its columns are the parameters') unless one with the same primary key
    exists, RETURNING the key: a row back means this transaction was the first."""
    return _once(
        ("claim", table),
        lambda: pg_insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns),
    )


def update_by_key(table: Table) -> Update:
    """UPDATE the row :row_key; the other parameters name the columns SET."""
    return _once(
        ("update", table),
        lambda: update(table).where(key_column(table) == bindparam(ROW_KEY)),
    )


def children_json(child: Table, parent_key: Column, order_by: Column, label: str):
    """A parent's child rows as one JSON array column of the parent's query, in order, so
    an aggregate and its parts load in one round trip (`from_json` reads them back)."""
    items = func.json_agg(aggregate_order_by(child.table_valued(), order_by))
    found = select(func.coalesce(items, literal([], JSON), type_=JSON))
    (foreign,) = [c for c in child.columns if c.references(key_column(parent_key.table))]
    return found.where(foreign == parent_key).scalar_subquery().label(label)


def from_json(table: Table) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Reads a row of `table` rendered by PostgreSQL as JSON back into the values the
    driver would have given: instants and dates from their ISO text."""
    readers: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        if isinstance(column.type, DateTime):
            readers[column.name] = datetime.fromisoformat
        elif isinstance(column.type, Date):
            readers[column.name] = date.fromisoformat

    def read(item: Mapping[str, Any]) -> dict[str, Any]:
        row = dict(item)
        for name, reader in readers.items():
            value = row.get(name)
            if value is not None:
                row[name] = reader(value)
        return row

    return read


_ABSENT = object()


class Snapshots:
    """The rows of one table a transaction has read or written, as they then were."""

    def __init__(self, session: Session, table: Table) -> None:
        self.session = session
        self.table = table
        self._key = key_column(table).name
        self._rows: dict[Any, dict[str, Any]] = {}

    def seen(self, row: Mapping[str, Any] | RowMapping) -> None:
        self._rows[row[self._key]] = dict(row)

    async def write(self, row: dict[str, Any]) -> None:
        """Writes `row` (the aggregate's columns as they are now): only the columns that
        changed since the row was seen, nothing if none did, the whole row if unseen."""
        key = row[self._key]
        before = self._rows.get(key)
        if before is None:
            await sql.write(self.session, upsert(self.table, row), row)
            self._rows[key] = dict(row)
            return
        changed = {name: value for name, value in row.items() if before.get(name, _ABSENT) != value}
        if changed:
            await sql.write(self.session, update_by_key(self.table), {**changed, ROW_KEY: key})
            before.update(changed)


class Rows(Generic[T]):
    """The repository of an aggregate kept as one row of `table`, found by its primary key."""

    table: ClassVar[Table]

    def __init__(self, session: Session) -> None:
        self.session = session
        self._snapshots = Snapshots(session, self.table)

    # Positional only: the key is a doctor_id, a slot_id... by repository.
    async def get(self, key: str, /, *, for_update: bool = False) -> T | None:
        query = by_key(self.table, for_update=for_update)
        row = await sql.fetch_one(self.session, query, {ROW_KEY: key})
        return self._seen(row) if row else None

    async def save(self, aggregate: T) -> None:
        await self._snapshots.write(self._dump(aggregate))

    async def _one(self, query: Select, for_update: bool) -> T | None:
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return self._seen(row) if row else None

    async def _all(self, query: Select) -> list[T]:
        return [self._seen(row) for row in (await self.session.execute(query)).mappings()]

    def _seen(self, row: Mapping[str, Any] | RowMapping) -> T:
        self._snapshots.seen(row)
        return self._load(row)

    async def _due(self, predicate, at: Column, now: datetime, limit: int) -> list[str]:
        """Ids of the rows of `predicate` whose `at` has come by `now`, the longest overdue
        first. Jobs filter on the partial index's own predicate, so the planner uses it."""
        query = select(self.table.c.id).where(predicate, at <= now).order_by(at).limit(limit)
        return list((await self.session.execute(query)).scalars())

    # Positional only: each repository names the parameter for its own aggregate.
    @staticmethod
    def _load(row: Any, /) -> T:
        raise NotImplementedError

    @staticmethod
    def _dump(aggregate: T, /) -> dict:
        raise NotImplementedError
