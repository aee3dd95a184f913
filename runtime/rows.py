"""The repository of an aggregate kept as one row of a table: load and save it whole by
its primary key, the way booking and consultation keep theirs."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from sqlalchemy import Column, Select, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class Rows(Generic[T]):
    """The repository of an aggregate kept as one row of `table`, found by its primary key."""

    table: ClassVar[Table]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Positional only: the key is a doctor_id, a slot_id... by repository.
    async def get(self, key: str, /, *, for_update: bool = False) -> T | None:
        (column,) = self.table.primary_key.columns
        return await self._one(select(self.table).where(column == key), for_update)

    async def save(self, aggregate: T) -> None:
        row = self._dump(aggregate)
        statement = pg_insert(self.table).values(**row)
        await self.session.execute(
            statement.on_conflict_do_update(index_elements=list(self.table.primary_key), set_=row)
        )

    async def _one(self, query: Select, for_update: bool) -> T | None:
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return self._load(row) if row else None

    async def _all(self, query: Select) -> list[T]:
        return [self._load(row) for row in (await self.session.execute(query)).mappings()]

    async def _due(self, predicate, at: Column, now: datetime, limit: int) -> list[str]:
        """Ids of the rows of `predicate` whose `at` has come by `now`, the longest overdue
        first. Jobs filter on the partial index's own predicate, so the planner uses it."""
        query = select(self.table.c.id).where(predicate, at <= now).order_by(at).limit(limit)
        return list((await self.session.execute(query)).scalars())

    @staticmethod
    def _load(row) -> T:
        raise NotImplementedError

    @staticmethod
    def _dump(aggregate: T) -> dict:
        raise NotImplementedError
