"""The unit of work: all or nothing, and a lost race is run again rather than failed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime import rows, sql
from runtime.db import UnitOfWork, create_engine, sessionmaker
from runtime.retry import retrying
from runtime.schema import inbox
from tests.integration.runtime import probe
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


async def _terminate_others(engine, backends: set[int]) -> None:
    """Ends the given server backends, as a PostgreSQL restart or an operator would."""
    async with engine.connect() as conn:
        for pid in backends:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def _backend(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(text("SELECT pg_backend_pid()"))


async def test_a_connection_the_server_closed_is_replaced_before_a_unit_uses_it(database):
    """The pool does not ping before each use; a connection whose backend was ended is
    noticed all the same and the unit runs on a fresh one, without an error."""
    engine = create_engine(database, pool_size=1)
    bystander = create_engine(database, pool_size=1)
    try:
        first = await _backend(engine)
        await _terminate_others(bystander, {first})
        await asyncio.sleep(0.2)  # the close reaches the pooled connection's socket

        uow = UnitOfWork(sessionmaker(engine))
        async with uow:
            await uow.session.execute(text("INSERT INTO effects (value) VALUES ('after')"))
            await uow.commit()
        assert await _backend(engine) != first
        assert await effect_counts(engine) == {"after": 1}
    finally:
        await engine.dispose()
        await bystander.dispose()


_EFFECT = insert(probe.effects)
_EFFECT_BY_ID = select(probe.effects).where(probe.effects.c.id == bindparam("id"))


async def test_statements_run_by_asyncpg_itself_are_part_of_the_unit(engine):
    """runtime.sql's statements share the unit's transaction with SQLAlchemy's: rolled
    back with it, committed with it, seen by it."""
    sessions = sessionmaker(engine)
    uow = UnitOfWork(sessions)
    async with uow:
        await sql.execute(uow.session, _EFFECT, {"id": 1, "value": "rolled back"})
    assert await effect_counts(engine) == {}

    uow = UnitOfWork(sessions)
    async with uow:
        await uow.session.execute(text("INSERT INTO effects (id, value) VALUES (2, 'first')"))
        await sql.execute_many(
            uow.session, _EFFECT, [{"id": 3, "value": "kept"}, {"id": 4, "value": "kept"}]
        )
        seen = await sql.fetch_one(uow.session, _EFFECT_BY_ID, {"id": 2})
        assert seen is not None and seen["value"] == "first"
        await uow.commit()
    assert await effect_counts(engine) == {"first": 1, "kept": 2}


async def test_their_errors_are_sqlalchemys(engine):
    uow = UnitOfWork(sessionmaker(engine))
    async with uow:
        await sql.execute(uow.session, _EFFECT, {"id": 1, "value": "one"})
        with pytest.raises(IntegrityError):
            await sql.execute(uow.session, _EFFECT, {"id": 1, "value": "again"})


async def _insert_by_sqlalchemy(session) -> None:
    await session.execute(text("INSERT INTO effects (value) VALUES ('once')"))


async def _insert_by_asyncpg(session) -> None:
    await sql.execute(session, _EFFECT, {"value": "once"})


@pytest.mark.parametrize("insert_once", [_insert_by_sqlalchemy, _insert_by_asyncpg])
async def test_a_unit_whose_connection_is_lost_mid_way_is_run_again(database, insert_once):
    engine = create_engine(database, pool_size=1)
    bystander = create_engine(database, pool_size=1)
    sessions = sessionmaker(engine)
    runs = []
    try:

        async def unit() -> None:
            runs.append(1)
            uow = UnitOfWork(sessions)
            async with uow:
                pid = await uow.session.scalar(text("SELECT pg_backend_pid()"))
                if len(runs) == 1:
                    # Lost between two statements: the second meets a dead connection.
                    await _terminate_others(bystander, {pid})
                await insert_once(uow.session)
                await uow.commit()

        await retrying(unit)
        assert len(runs) == 2
        assert await effect_counts(engine) == {"once": 1}
    finally:
        await engine.dispose()
        await bystander.dispose()


# Writes whose count nobody reads wait, and go together (runtime.sql.write).

_NOTE = insert(probe.notes)
_EFFECT_VALUE = rows.update_by_key(probe.effects)
_EFFECT_ROW = rows.upsert(probe.effects, ["id", "value"])


async def _note_count(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(probe.notes))


async def _begun(uow: UnitOfWork):
    """Begins the unit's transaction with a read; returns its driver connection."""
    await sql.fetch(uow.session, _EFFECT_BY_ID, {"id": 0})
    assert uow.session.driver is not None
    return uow.session.driver._connection


async def test_a_unit_s_writes_reach_postgresql_as_one_statement_before_its_commit(engine):
    uow = UnitOfWork(sessionmaker(engine))
    sent: list[str] = []
    async with uow:
        driver = await _begun(uow)
        driver.add_query_logger(lambda logged: sent.append(logged.query))
        await sql.write(uow.session, _EFFECT, {"id": 1, "value": "a"})
        await sql.write(uow.session, _NOTE, {"id": 1, "topic": "t", "text": "x"})
        await sql.write(uow.session, _EFFECT, {"id": 2, "value": "b"})
        assert sent == [], "a write waits for the unit's next statement"
        await uow.commit()
    # (asyncpg's query log leaves out its transaction's COMMIT.)
    assert len(sent) == 1 and sent[0].startswith("WITH _part0 AS (INSERT INTO effects"), sent
    assert await effect_counts(engine) == {"a": 1, "b": 1}
    assert await _note_count(engine) == 1


async def test_what_a_unit_wrote_is_seen_by_its_next_read_whichever_way_it_reads(engine):
    uow = UnitOfWork(sessionmaker(engine))
    async with uow:
        await _begun(uow)
        await sql.write(uow.session, _EFFECT, {"id": 1, "value": "a"})
        seen = await sql.fetch_one(uow.session, _EFFECT_BY_ID, {"id": 1})
        assert seen is not None and seen["value"] == "a"
        await sql.write(uow.session, _EFFECT_VALUE, {"value": "b", rows.ROW_KEY: 1})
        by_sqlalchemy = await uow.session.scalar(select(probe.effects.c.value))
        assert by_sqlalchemy == "b"


async def test_two_writes_of_one_row_end_as_the_second_says(engine):
    """Two writes of one table's row never share a statement (whose parts see the same
    rows): the first is sent before the second waits."""
    uow = UnitOfWork(sessionmaker(engine))
    async with uow:
        await _begun(uow)
        await sql.write(uow.session, _EFFECT_ROW, {"id": 1, "value": "first"})
        await sql.write(uow.session, _EFFECT_VALUE, {"value": "second", rows.ROW_KEY: 1})
        await sql.write(uow.session, _EFFECT_VALUE, {"value": "third", rows.ROW_KEY: 1})
        await uow.commit()
    assert await effect_counts(engine) == {"third": 1}


async def test_a_waiting_write_s_error_fails_the_commit_and_nothing_of_the_unit_stays(engine):
    async with engine.begin() as conn:
        await conn.execute(insert(probe.effects).values(id=1, value="there"))
    uow = UnitOfWork(sessionmaker(engine))
    async with uow:
        await _begun(uow)
        await sql.write(uow.session, _NOTE, {"id": 1, "topic": "t", "text": "x"})
        await sql.write(uow.session, _EFFECT, {"id": 1, "value": "again"})
        with pytest.raises(IntegrityError):
            await uow.commit()
    assert await effect_counts(engine) == {"there": 1}
    assert await _note_count(engine) == 0


async def test_a_unit_that_does_not_commit_sends_nothing_it_left_waiting(database):
    engine = create_engine(database, pool_size=1)
    try:
        sessions = sessionmaker(engine)
        uow = UnitOfWork(sessions)
        async with uow:
            await _begun(uow)
            await sql.write(uow.session, _EFFECT, {"id": 1, "value": "dropped"})
        # The next unit has the same pooled connection.
        uow = UnitOfWork(sessions)
        async with uow:
            await _begun(uow)
            await sql.write(uow.session, _EFFECT, {"id": 2, "value": "kept"})
            await uow.commit()
        assert await effect_counts(engine) == {"kept": 1}
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _one_connection(database: str) -> AsyncIterator[tuple[AsyncEngine, list[str]]]:
    """An engine of one pooled connection, and each message its driver sends PostgreSQL
    (asyncpg's query log, read after a turn of the loop)."""
    engine = create_engine(database, pool_size=1)
    sent: list[str] = []
    async with engine.connect() as connection:
        driver = sql._driver(sql._adapted(connection))
        driver.add_query_logger(lambda record: sent.append(record.query))
    try:
        yield engine, sent
    finally:
        await engine.dispose()


async def _sent_since(sent: list[str], start: int) -> list[str]:
    await asyncio.sleep(0)
    return sent[start:]


async def test_a_unit_s_first_statement_goes_with_its_begin_and_is_part_of_the_unit(database):
    """runtime.sql.execute sends BEGIN and a unit's first statement in one message: what
    it wrote is rolled back with the unit, committed with it, and seen by it; a value is
    stored as given, quotes and all. A later statement goes as any other."""
    async with _one_connection(database) as (engine, sent):
        sessions = sessionmaker(engine)
        uow = UnitOfWork(sessions)
        async with uow:
            assert await sql.execute(uow.session, _EFFECT, {"value": "rolled back"}) == 1
            assert await sql.execute(uow.session, _EFFECT, {"value": "twice"}) == 1
            with pytest.raises(IntegrityError):
                await sql.execute(uow.session, _EFFECT, {"id": None, "value": "no id"})
        first, second, *_ = await _sent_since(sent, 0)
        assert first.startswith("BEGIN;INSERT INTO effects") and "'rolled back'" in first
        assert second.startswith("INSERT INTO effects") and "$1" in second
        assert await effect_counts(engine) == {}

        quoted = "O'Brien's; DROP TABLE x; $1"
        uow = UnitOfWork(sessions)
        async with uow:
            assert await sql.execute(uow.session, _EFFECT, {"value": quoted}) == 1
            seen = await sql.fetch(uow.session, select(probe.effects.c.value), {})
            assert [row["value"] for row in seen] == [quoted]
            await uow.commit()
        assert await effect_counts(engine) == {quoted: 1}


async def test_a_value_it_does_not_quote_goes_after_a_begin_of_its_own(database):
    async with _one_connection(database) as (engine, sent):
        for value in ({"value": "back\\slash"}, {"id": 7, "value": "a"}):
            start = len(sent)
            uow = UnitOfWork(sessionmaker(engine))
            async with uow:
                assert await sql.execute(uow.session, _EFFECT, value) == 1
                await uow.commit()
            begin, statement, _ = await _sent_since(sent, start)
            assert (begin, statement.split(" (")[0]) == ("BEGIN;", "INSERT INTO effects")
        assert await effect_counts(engine) == {"back\\slash": 1, "a": 1}


async def test_a_claim_begun_with_its_transaction_waits_for_the_unit_that_holds_it(engine):
    """Two units claiming one inbox row at once, as two deliveries of one event do: the
    second waits for the first and, once it commits, finds the row taken."""
    sessions = sessionmaker(engine)
    claim = rows.claim(inbox)
    row = {"consumer": "c", "event_id": "event-1"}
    first, second = UnitOfWork(sessions), UnitOfWork(sessions)
    async with first, second:
        assert await sql.execute(first.session, claim, row) == 1
        waiting = asyncio.ensure_future(sql.execute(second.session, claim, row))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await first.commit()
        assert await waiting == 0


async def test_a_statement_begun_with_its_transaction_fails_as_any_other(database):
    """Its error is SQLAlchemy's, and the transaction it began is rolled back with the unit,
    leaving the connection (the pool's one) fit for the next."""
    async with _one_connection(database) as (engine, sent):
        sessions = sessionmaker(engine)
        row = {"consumer": "c", "event_id": "event-1"}
        for fails in (False, True):
            uow = UnitOfWork(sessions)
            async with uow:
                if fails:
                    with pytest.raises(IntegrityError):
                        await sql.execute(uow.session, insert(inbox), row)
                else:
                    await sql.execute(uow.session, insert(inbox), row)
                    await uow.commit()
        assert (await _sent_since(sent, 0))[2].startswith("BEGIN;INSERT INTO inbox")
        uow = UnitOfWork(sessions)
        async with uow:
            assert await sql.execute(uow.session, _EFFECT, {"value": "after"}) == 1
            await uow.commit()
        assert await effect_counts(engine) == {"after": 1}
