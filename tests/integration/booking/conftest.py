"""Booking against a real PostgreSQL: its migrated template, and units of work over its
repositories (the fixtures themselves are tests/integration/conftest.py's)."""

from __future__ import annotations

import pytest

from services.booking.adapters.unit_of_work import BookingUnitOfWork
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


class Repositories(BookingUnitOfWork):
    """Booking's own unit of work, saying which repository keeps an aggregate."""

    def of(self, aggregate: object):
        return {
            Doctor: self.doctors,
            Slot: self.slots,
            Checkout: self.checkouts,
            Reservation: self.reservations,
        }[type(aggregate)]


Transaction = integration.Transaction[Repositories]


@pytest.fixture
def unit() -> type[Repositories]:
    return Repositories
