"""Payment against a real PostgreSQL: its migrated template (the fixtures themselves are
tests/integration/conftest.py's)."""

from __future__ import annotations

import pytest

from stack.databases import Databases
from tests.conftest import migrated_template


@pytest.fixture(scope="session")
async def template(postgres: Databases) -> str:
    return await migrated_template(postgres, "payment")
