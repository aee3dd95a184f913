"""The hot paths' statements, compiled once and run by asyncpg itself on the unit of
work's own connection and transaction.

Measured on this machine, SQLAlchemy's execution path costs about 150 µs of CPU per
statement above asyncpg's own (session, compiled-cache lookup, parameter processing,
the cursor adapter and its greenlet, result rows), which was a third of a flow's CPU.
Here a statement is compiled once per set of parameter names, with the same bind
processors SQLAlchemy would apply, and asyncpg prepares and caches it per connection.
Errors come back as SQLAlchemy's (IntegrityError, OperationalError...), and a lost
connection invalidates the pooled one, so the retry and error mapping above treat
both paths alike. Everything else (the pool, transactions, migrations, the rarely run
queries) stays SQLAlchemy's. With tracing on, each statement here has its span as
SQLAlchemy's have theirs (runtime.tracing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from asyncpg import Record
from sqlalchemy import exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from runtime import tracing

# Where a statement runs: a unit of work's session, or a connection in a transaction.
Transaction = AsyncSession | AsyncConnection

_DIALECT = asyncpg_dialect()
_compiled: dict[tuple[int, tuple[str, ...]], Compiled] = {}


class Compiled:
    """A statement's SQL for asyncpg, and how to turn named parameters into its
    positional ones."""

    def __init__(self, statement: ClauseElement, names: Sequence[str]) -> None:
        compiled = statement.compile(dialect=_DIALECT, column_keys=list(names))
        # What a query or a write compiles to (DDL, which never comes here, would not).
        assert isinstance(compiled, SQLCompiler)
        self.sql: str = compiled.string
        processors = compiled._bind_processors  # SQLAlchemy's own (JSON to text...)
        # Parameters the statement binds itself (a literal in a WHERE) have a value.
        fixed = compiled.construct_params(_check=False)
        self._order: list[tuple[str, Callable[[Any], Any] | None, Any]] = []
        for name in compiled.positiontup or ():
            process = processors.get(name)
            # A tuple-valued bind has one processor per element; no statement here has one.
            if process is not None and not callable(process):
                raise TypeError(f"{name}: a tuple-valued parameter is not supported here")
            self._order.append((name, process, fixed.get(name)))

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, process, default in self._order:
            value = params.get(name, default)
            values.append(value if process is None else process(value))
        return values


def compiled(statement: ClauseElement, names: Iterable[str]) -> Compiled:
    """The statement compiled for these parameter names (built statements are long-lived:
    they are module constants or runtime.rows' cached ones)."""
    key = (id(statement), tuple(sorted(names)))
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = Compiled(statement, key[1])
        # Kept alive with its compiled form, so its id is never reused for another.
        found.statement = statement  # type: ignore[attr-defined]
    return found


async def fetch(
    session: Transaction, statement: ClauseElement, params: Mapping[str, Any]
) -> list[Record]:
    """Runs the statement in the session's transaction; its rows (none for a write)."""
    sql = compiled(statement, params)
    return await _run(session, sql, lambda raw: raw.fetch(sql.sql, *sql.arguments(params)))


async def fetch_one(
    session: Transaction, statement: ClauseElement, params: Mapping[str, Any]
) -> Record | None:
    rows = await fetch(session, statement, params)
    return rows[0] if rows else None


async def execute(session: Transaction, statement: ClauseElement, params: Mapping[str, Any]) -> int:
    """Runs a write in the session's transaction; how many rows it touched."""
    sql = compiled(statement, params)
    status = await _run(session, sql, lambda raw: raw.execute(sql.sql, *sql.arguments(params)))
    return _count(status)


async def execute_alone(
    engine: AsyncEngine, statement: ClauseElement, params: Mapping[str, Any]
) -> int:
    """One statement in a transaction of its own, PostgreSQL's implicit one: a single
    round trip, with no BEGIN or COMMIT. How many rows it touched."""
    sql = compiled(statement, params)
    status = await _alone(engine, sql, lambda raw: raw.execute(sql.sql, *sql.arguments(params)))
    return _count(status)


async def fetch_alone(
    engine: AsyncEngine, statement: ClauseElement, params: Mapping[str, Any]
) -> list[Record]:
    """One query in PostgreSQL's implicit transaction: a single round trip, where a
    connection's own transaction would be three (BEGIN, the query, ROLLBACK)."""
    sql = compiled(statement, params)
    return await _alone(engine, sql, lambda raw: raw.fetch(sql.sql, *sql.arguments(params)))


async def _alone(engine: AsyncEngine, sql: Compiled, call):
    async with engine.connect() as connection:
        adapted = _adapter((await connection.get_raw_connection()).dbapi_connection)
        try:
            if tracing.enabled:
                with tracing.statement(sql.sql):
                    return await call(adapted._connection)
            return await call(adapted._connection)
        except Exception as error:
            raise await _translated(connection, adapted, sql, error) from error


def _count(status: str) -> int:
    # "UPDATE 1", "INSERT 0 3", "DELETE 0": the count is last.
    return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0


async def execute_many(
    session: Transaction, statement: ClauseElement, rows: Sequence[Mapping[str, Any]]
) -> None:
    """The same write for each of `rows` (which share their names), in one round trip."""
    if not rows:
        return
    sql = compiled(statement, rows[0])
    await _run(session, sql, lambda raw: raw.executemany(sql.sql, [sql.arguments(r) for r in rows]))


async def _run(session: Transaction, sql: Compiled, call):
    adapted = _in_transaction(session)
    if adapted is None:
        connection = await _connection(session)
        adapted = _adapter((await connection.get_raw_connection()).dbapi_connection)
    # SQLAlchemy's asyncpg adapter begins the transaction lazily, at its first statement;
    # a statement run around it must begin it the same way, or it would run outside.
    async with adapted._execute_mutex:
        try:
            if adapted._transaction is None:
                await adapted._start_transaction()
            if tracing.enabled:
                with tracing.statement(sql.sql):
                    return await call(adapted._connection)
            return await call(adapted._connection)
        except Exception as error:
            connection = await _connection(session)
            raise await _translated(connection, adapted, sql, error) from error


async def _connection(session: Transaction) -> AsyncConnection:
    # Asked of AsyncSession, whose class is plain: AsyncConnection's is an ABC, whose
    # isinstance goes through ABCMeta in Python, a few per cent of a consumer's CPU.
    return await session.connection() if isinstance(session, AsyncSession) else session


def _adapter(dbapi_connection: object) -> AsyncAdapt_asyncpg_connection:
    # Every engine is postgresql+asyncpg, so a DBAPI connection is SQLAlchemy's adapter
    # around asyncpg's, whose connection, lock and transaction this module works with
    # (the DBAPIConnection protocol it is typed as has none of them).
    return cast(AsyncAdapt_asyncpg_connection, dbapi_connection)


def _in_transaction(session: Transaction) -> AsyncAdapt_asyncpg_connection | None:
    """The driver connection a session's transaction already holds, found without a trip
    through SQLAlchemy's greenlet (a tenth of a consumer's CPU when asked per statement);
    None before the transaction's first statement, which takes the slow way once."""
    if not isinstance(session, AsyncSession):  # a connection (see _connection)
        return None
    transaction = session.sync_session._transaction
    if transaction is None or not transaction._connections:
        return None
    # A unit's session has one engine; its entry is (Connection, Transaction, ...).
    connection = next(iter(transaction._connections.values()))[0]
    if connection.closed or connection.invalidated:
        return None
    return _adapter(connection.connection.dbapi_connection)


async def _translated(
    connection: AsyncConnection,
    adapted: AsyncAdapt_asyncpg_connection,
    sql: Compiled,
    error: Exception,
) -> Exception:
    """The error as SQLAlchemy would have raised it for the same statement."""
    lost = adapted._connection.is_closed()
    try:
        adapted._handle_exception(error)  # raises asyncpg's error in DBAPI form
    except Exception as dbapi_error:
        error = dbapi_error
    if lost:
        adapted._transaction = None
        await connection.invalidate()
    return exc.DBAPIError.instance(
        sql.sql,
        None,
        error,
        connection.dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=connection.dialect,
    )
