"""A chat's news on CHAT_CHANNEL, as its live streams hear it: a message posted and the
consultation's status changing NOTIFY the consultation's id when they commit, and nothing
else does; consultation_0003 gives a database made before it the status trigger."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from runtime.migrations import upgrade
from runtime.service import listen_dsn
from services.consultation.adapters.tables import CHAT_CHANNEL
from services.consultation.domain.chat import write_message
from stack.databases import Databases
from stack.local import ROOT
from tests.integration.consultation.conftest import Transaction
from tests.integration.consultation.test_repository import chatting
from tests.unit.consultation.builders import NOW, PATIENT, doctor_caller

MIGRATIONS = ROOT / "services" / "consultation" / "migrations"


@pytest.fixture
async def heard(database: str) -> AsyncIterator[asyncio.Queue[str]]:
    """What CHAT_CHANNEL carries, as a live stream's listener hears it."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    connection = await asyncpg.connect(listen_dsn(database))
    await connection.add_listener(CHAT_CHANNEL, lambda *args: queue.put_nowait(args[-1]))
    yield queue
    await connection.close()


async def next_heard(queue: asyncio.Queue[str]) -> str:
    return await asyncio.wait_for(queue.get(), 10)


async def test_a_message_and_a_change_of_status_are_news_of_the_chat_once_committed(
    transaction: Transaction, heard: asyncio.Queue[str]
):
    consultation = await chatting(transaction, "1")
    other = await chatting(transaction, "2")
    doctor = doctor_caller()

    def message(n: int, on=consultation):
        return write_message(on, PATIENT, message_id=f"{on.id}-{n}", text=f"#{n}", now=NOW)

    async with transaction() as db:
        await db.messages.add(message(1))
        # Saved with its status as it was: no news of its own.
        await db.consultations.save(consultation)
    with pytest.raises(RuntimeError):
        async with transaction() as db:
            await db.messages.add(message(2))
            raise RuntimeError("rolled back: never said")
    consultation.complete(doctor.id, "Rest.", NOW)
    async with transaction() as db:
        await db.consultations.save(consultation)
    async with transaction() as db:
        await db.messages.add(message(1, on=other))

    news = [await next_heard(heard) for _ in range(3)]
    assert news == [consultation.id, consultation.id, other.id]
    assert heard.empty()


async def test_a_database_from_before_consultation_0003_gains_the_status_trigger(
    postgres: Databases,
):
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = await postgres.create(name)
    engine = create_async_engine(url)

    async def status_triggers() -> list:
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT tgname FROM pg_trigger WHERE tgname = 'consultation_status_notify'")
            )
            return list(found.scalars())

    try:
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        assert await status_triggers() == ["consultation_status_notify"]
        # As a database migrated when consultation_0002 was the last revision.
        async with engine.begin() as conn:
            for sql in (
                "DROP TRIGGER consultation_status_notify ON consultations",
                "DROP FUNCTION consultation_status_notify()",
                "UPDATE alembic_version SET version_num = 'consultation_0002'",
            ):
                await conn.execute(text(sql))
        assert await status_triggers() == []
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        assert await status_triggers() == ["consultation_status_notify"]
    finally:
        await engine.dispose()
        await postgres.drop(name)
