"""Fixtures for consultation against a real PostgreSQL: a fresh database per test copied
from a migrated template, an engine on it, and units of work over consultation's
repositories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from runtime.db import sessionmaker
from services.consultation.adapters.repository import (
    AuditEntries,
    ChatMessages,
    Checkouts,
    ClinicalSessions,
    Consultations,
    Doctors,
    Intakes,
    PlatformPrices,
)
from stack.databases import Databases
from tests.conftest import fresh_database, migrated_template


@pytest.fixture(scope="session")
async def consultation_template(postgres: Databases) -> str:
    return await migrated_template(postgres, "consultation")


@pytest.fixture
async def consultation_db(postgres: Databases, consultation_template: str) -> AsyncIterator[str]:
    async for url in fresh_database(postgres, consultation_template):
        yield url


@pytest.fixture
async def engine(consultation_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(consultation_db)
    yield engine
    await engine.dispose()


class Repositories:
    """Consultation's repositories over one session, as a handler's unit of work has them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.doctors = Doctors(session)
        self.prices = PlatformPrices(session)
        self.intakes = Intakes(session)
        self.checkouts = Checkouts(session)
        self.sessions = ClinicalSessions(session)
        self.consultations = Consultations(session)
        self.messages = ChatMessages(session)
        self.audit = AuditEntries(session)


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
