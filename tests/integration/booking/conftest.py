"""Booking against a real PostgreSQL: its migrated template, and units of work over its
repositories (the fixtures themselves are tests/integration/conftest.py's)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.booking.adapters.repository import (
    Availabilities,
    Checkouts,
    Doctors,
    Reservations,
    Slots,
)
from services.booking.domain.checkout import Checkout
from services.booking.domain.doctor import Doctor
from services.booking.domain.reservation import Reservation
from services.booking.domain.slot import Slot
from stack.databases import Databases
from tests.conftest import migrated_template
from tests.integration import conftest as integration


@pytest.fixture(scope="session")
async def template(postgres: Databases) -> str:
    return await migrated_template(postgres, "booking")


class Repositories:
    """Booking's repositories over one session, as a handler's unit of work has them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.doctors = Doctors(session)
        self.availabilities = Availabilities(session)
        self.slots = Slots(session)
        self.checkouts = Checkouts(session)
        self.reservations = Reservations(session)

    def of(self, aggregate: object):
        return {
            Doctor: self.doctors,
            Slot: self.slots,
            Checkout: self.checkouts,
            Reservation: self.reservations,
        }[type(aggregate)]


Transaction = integration.Transaction[Repositories]


@pytest.fixture
def repositories() -> type[Repositories]:
    return Repositories
