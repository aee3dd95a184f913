"""Consultation against a real PostgreSQL: its migrated template, and units of work over
its repositories (the fixtures themselves are tests/integration/conftest.py's)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.consultation.domain.checkout import Checkout
from services.consultation.domain.consultation import Consultation
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.intake import Intake
from services.consultation.domain.session import ClinicalSession
from services.consultation.handlers.stores import Stores
from stack.databases import Databases
from tests.conftest import migrated_template
from tests.integration import conftest as integration


@pytest.fixture(scope="session")
async def template(postgres: Databases) -> str:
    return await migrated_template(postgres, "consultation")


class Repositories(Stores):
    """Consultation's own Stores over one session, and which of them keeps an aggregate."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.session = session

    def of(self, aggregate: object):
        return {
            Doctor: self.doctors,
            Intake: self.intakes,
            Checkout: self.checkouts,
            ClinicalSession: self.sessions,
            Consultation: self.consultations,
        }[type(aggregate)]


Transaction = integration.Transaction[Repositories]


@pytest.fixture
def repositories() -> type[Repositories]:
    return Repositories
