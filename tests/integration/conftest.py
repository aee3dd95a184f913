"""Integration tests: real PostgreSQL and NATS (tests/conftest.py), no service process.

A folder names its migrated `template` database (session-scoped); each test then gets a
fresh `database` copied from it and an `engine` on that. A folder that also names its
service's `unit` of work gets `transaction`: `async with transaction() as db:` opens one,
with the service's repositories on it, commits on leaving and rolls back on an exception.
Where the unit can say which of its repositories keeps an aggregate (`of`), `store` and
`reload` round-trip aggregates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from runtime.db import UnitOfWork, sessionmaker
from stack.databases import Databases
from tests.conftest import fresh_database

R = TypeVar("R")

Transaction = Callable[[], AbstractAsyncContextManager[R]]


class KeepsAggregates(Protocol):
    def of(self, aggregate: object) -> Any:
        """The repository that saves and loads `aggregate`."""


@pytest.fixture
async def database(postgres: Databases, template: str) -> AsyncIterator[str]:
    async for url in fresh_database(postgres, template):
        yield url


@pytest.fixture
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database)
    yield engine
    await engine.dispose()


@pytest.fixture
def transaction(engine: AsyncEngine, unit: type[UnitOfWork]) -> Transaction:
    sessions = sessionmaker(engine)

    @asynccontextmanager
    async def opened() -> AsyncIterator:
        async with unit(sessions) as uow:
            yield uow
            await uow.commit()

    return opened


async def store(transaction: Transaction[KeepsAggregates], *aggregates: object) -> None:
    """Saves each in one committed transaction, in the order given (parents first)."""
    async with transaction() as db:
        for aggregate in aggregates:
            await db.of(aggregate).save(aggregate)


async def reload(transaction: Transaction[KeepsAggregates], *aggregates: Any) -> list:
    """Each aggregate as a new transaction loads it by its id, under its row lock."""
    async with transaction() as db:
        return [
            await db.of(aggregate).get(aggregate.id, for_update=True) for aggregate in aggregates
        ]
