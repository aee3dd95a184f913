"""Consultation against a real PostgreSQL: its migrated template, and units of work over
its repositories (the fixtures themselves are tests/integration/conftest.py's)."""

from __future__ import annotations

import pytest

from services.consultation.adapters.unit_of_work import ConsultationUnitOfWork
from services.consultation.domain.checkout import Checkout
from services.consultation.domain.consultation import Consultation
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.intake import Intake
from services.consultation.domain.session import ClinicalSession
from stack.databases import Databases
from tests.conftest import migrated_template
from tests.integration import conftest as integration


@pytest.fixture(scope="session")
async def template(postgres: Databases) -> str:
    return await migrated_template(postgres, "consultation")


class Repositories(ConsultationUnitOfWork):
    """Consultation's own unit of work, saying which repository keeps an aggregate."""

    def of(self, aggregate: object):
        return {
            Doctor: self.doctors,
            Intake: self.intakes,
            Checkout: self.checkouts,
            ClinicalSession: self.clinical_sessions,
            Consultation: self.consultations,
        }[type(aggregate)]


Transaction = integration.Transaction[Repositories]


@pytest.fixture
def unit() -> type[Repositories]:
    return Repositories
