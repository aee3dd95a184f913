"""Real servers for the whole test session: one PostgreSQL, one NATS with JetStream.

Both are the embedded servers `make run` uses, on free ports, in a temporary folder,
stopped when the session ends (and by the kernel if the session is killed). Set
NOBAT_POSTGRES_URL and NOBAT_NATS_URL to run against servers of your own instead.
Each test gets a fresh database copied from a migrated template, so tests stay
independent without paying for migrations every time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runtime.migrations import upgrade
from stack.databases import Databases
from stack.nats import EmbeddedNats
from stack.postgres import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: as root it is mode 0700, and PostgreSQL runs as its own user.
    path = Path(tempfile.mkdtemp(prefix="nobat-test-servers-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(servers_dir: Path) -> Iterator[Databases]:
    external = os.environ.get("NOBAT_POSTGRES_URL")
    if external:
        yield Databases(external)
        return
    with EmbeddedPostgres(servers_dir / "pg", fast=True) as server:
        yield Databases(server.url())


@pytest.fixture(scope="session")
def nats_server(servers_dir: Path) -> Iterator[EmbeddedNats | None]:
    """The embedded NATS server, or None when the tests use an external one."""
    if os.environ.get("NOBAT_NATS_URL"):
        yield None
        return
    with EmbeddedNats(servers_dir / "nats") as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNats | None) -> str:
    return nats_server.url if nats_server is not None else os.environ["NOBAT_NATS_URL"]


@pytest.fixture
def embedded_nats(nats_server: EmbeddedNats | None) -> EmbeddedNats:
    """For tests that kill and restart NATS: only possible with our own server."""
    if nats_server is None:
        pytest.skip("needs the embedded NATS server to kill and restart it")
    return nats_server


async def fresh_database(postgres: Databases, template: str) -> AsyncIterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = await postgres.create(name, template)
    try:
        yield url
    finally:
        await postgres.drop(name)


async def migrated_template(postgres: Databases, service: str) -> str:
    """A database with `service`'s migrations applied, for tests to copy; its name."""
    name = f"{service}_template"
    await postgres.drop(name)
    url = await postgres.create(name)
    await asyncio.to_thread(upgrade, ROOT / "services" / service / "migrations", url)
    return name
