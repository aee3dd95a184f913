"""The handlers' tests' world: an in-memory unit of work and gateway, and payment's
context on them with the default settings, its clock stopped at T0."""

from __future__ import annotations

import pytest

from services.payment.handlers.context import Context, PaymentSettings
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.payment.builders import T0
from tests.unit.payment.fakes import FakeGateway, fake_unit


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return fake_unit()


@pytest.fixture
def ctx(uow: FakeUnitOfWork, gateway: FakeGateway) -> Context:
    return Context(lambda: uow, gateway, PaymentSettings(), clock=lambda: T0)
