"""The unit of work: all or nothing, and a lost race is run again rather than failed."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from runtime.db import UnitOfWork, sessionmaker
from runtime.retry import retrying
from tests.integration.runtime.conftest import effect_counts


async def test_two_units_that_deadlock_both_complete_after_a_retry(engine):
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO effects (id, value) VALUES (1, 'a'), (2, 'b')"))
    sessions = sessionmaker(engine)
    both_locked_first_row = asyncio.Barrier(2)
    attempts = []

    def transfer(first: int, second: int):
        async def unit() -> None:
            attempts.append((first, second))
            uow = UnitOfWork(sessions)
            async with uow:
                update = "UPDATE effects SET value = value || '+' WHERE id = :id"
                await uow.session.execute(text(update), {"id": first})
                if len(attempts) <= 2:
                    # Only the first tries meet in the middle; the retry runs alone.
                    await both_locked_first_row.wait()
                await uow.session.execute(text(update), {"id": second})
                await uow.commit()

        return unit

    await asyncio.gather(retrying(transfer(1, 2)), retrying(transfer(2, 1)))
    assert len(attempts) == 3, (
        "exactly one of the two should have been chosen as the deadlock victim"
    )
    assert await effect_counts(engine) == {"a++": 1, "b++": 1}
