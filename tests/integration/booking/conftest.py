"""Fixtures for booking against a real PostgreSQL: a fresh database per test copied from a
migrated template, an engine on it, and units of work over booking's repositories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from runtime.db import sessionmaker
from services.booking.adapters.repository import (
    Availabilities,
    Checkouts,
    Doctors,
    Reservations,
    Slots,
)
from stack.databases import Databases
from tests.conftest import fresh_database, migrated_template


@pytest.fixture(scope="session")
async def booking_template(postgres: Databases) -> str:
    return await migrated_template(postgres, "booking")


@pytest.fixture
async def booking_db(postgres: Databases, booking_template: str) -> AsyncIterator[str]:
    async for url in fresh_database(postgres, booking_template):
        yield url


@pytest.fixture
async def engine(booking_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(booking_db)
    yield engine
    await engine.dispose()


class Repositories:
    """Booking's repositories over one session, as a handler's unit of work has them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.doctors = Doctors(session)
        self.availabilities = Availabilities(session)
        self.slots = Slots(session)
        self.checkouts = Checkouts(session)
        self.reservations = Reservations(session)


Transaction = Callable[[], AbstractAsyncContextManager[Repositories]]


@pytest.fixture
def transaction(engine: AsyncEngine) -> Transaction:
    """`async with transaction() as db:` commits on leaving, rolls back on an exception."""
    sessions = sessionmaker(engine)

    @asynccontextmanager
    async def unit() -> AsyncIterator[Repositories]:
        async with sessions() as session, session.begin():
            yield Repositories(session)

    return unit
