"""The unit of work: all or nothing, and a lost race is run again rather than failed."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from runtime.db import UnitOfWork, create_engine, sessionmaker
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


async def test_a_database_error_names_the_statement_but_not_the_values_bound_to_it(database):
    """What the gRPC layer logs of an unexpected error is the exception's text: it must not
    carry what a patient wrote or where they live."""
    engine = create_engine(database)
    try:
        with pytest.raises(DBAPIError) as caught:
            async with engine.connect() as conn:
                await conn.execute(
                    text("INSERT INTO effects (value) VALUES (:value)"),
                    {"value": "chest pain, write to sara@example.com\x00"},
                )
    finally:
        await engine.dispose()
    told = str(caught.value)
    assert "INSERT INTO effects" in told
    assert "sara@example.com" not in told and "chest pain" not in told
