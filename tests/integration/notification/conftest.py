"""Notification against a real PostgreSQL: its migrated template, and its unit of work
(the fixtures themselves are tests/integration/conftest.py's)."""

from __future__ import annotations

import pytest

from services.notification.adapters.unit_of_work import NotificationUnitOfWork
from stack.databases import Databases
from tests.conftest import migrated_template


@pytest.fixture(scope="session")
async def template(postgres: Databases) -> str:
    return await migrated_template(postgres, "notification")


@pytest.fixture
def unit() -> type[NotificationUnitOfWork]:
    return NotificationUnitOfWork
