"""The hot paths' statements, compiled once and run by asyncpg itself on the unit of
work's own connection and transaction.

Measured on this machine, SQLAlchemy's execution path costs about 150 µs of CPU per
statement above asyncpg's own (session, compiled-cache lookup, parameter processing,
the cursor adapter and its greenlet, result rows), which was a third of a flow's CPU.
Here a statement is compiled once per set of parameter names, with the same bind
processors SQLAlchemy would apply, and asyncpg prepares and caches it per connection.
Errors come back as SQLAlchemy's (IntegrityError, OperationalError...), and a lost
connection invalidates the pooled one, so the retry and error mapping above treat
both paths alike. Everything else (the pool, migrations, the rarely run queries)
stays SQLAlchemy's. With tracing on, each statement here has its span as SQLAlchemy's
have theirs (runtime.tracing).

A unit of work talks to PostgreSQL through a `Session` of this module: a pooled
connection and the transaction on it, begun and committed on the driver itself (an ORM
session around them was a sixth of a unit's instructions, counted, and did nothing the
units use).

A unit's first statement, where its values are text (a consumer's claim of its event in the
inbox, a webhook's of its event), goes with BEGIN in one round trip (`execute`): with
asyncpg's own transaction they were two, and a round trip costs about a tenth of a
millisecond of CPU between the processes at its two ends.

A write whose result nobody reads (`write`) waits on the session for the next
statement, and goes with the others waiting as one statement of parts (runtime.batch)
before it, or before the commit: a booking's five writes are one round trip. Every way
into the transaction sends them first (this module's statements, the session's
SQLAlchemy ones and its commit), so a read always sees what the unit wrote.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

import asyncpg
from asyncpg import Record
from sqlalchemy import exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from runtime import batch, tracing

T = TypeVar("T")


_DIALECT = asyncpg_dialect()
_compiled: dict[tuple[int, tuple[str, ...]], Compiled] = {}
# Writes still to send: (part, positional arguments), in order.
_Pending = list[tuple[batch.Part, list[Any]]]
# Statements of parts, by their parts; a handful of shapes per service.
_joined: dict[tuple[int, ...], str] = {}


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
        self._part: batch.Part | bool | None = False  # not read yet

    @property
    def part(self) -> batch.Part | None:
        """The statement as a part of a statement of several; None if it cannot be one."""
        if self._part is False:
            try:
                self._part = batch.Part.of(self.sql, len(self._order))
            except batch.Unsupported:
                self._part = None
        return self._part  # type: ignore[return-value]

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


class Session:
    """A unit of work's connection to PostgreSQL and its transaction: a connection from
    the engine's pool at its first statement, a transaction begun on the driver then,
    and the writes still to send. For the queries this module does not run, `execute`
    and `scalar` are SQLAlchemy's, on the same connection and transaction."""

    __slots__ = ("_engine", "connection", "driver", "pending")

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.connection: AsyncConnection | None = None
        self.driver: AsyncAdapt_asyncpg_connection | None = None
        self.pending: _Pending = []

    async def connected(self) -> AsyncConnection:
        if self.connection is None:
            self.connection = await self._engine.connect()
            self.driver = _adapted(self.connection)
        return self.connection

    async def adapted(self) -> AsyncAdapt_asyncpg_connection:
        """The driver under the session's connection, connecting at the first statement."""
        if self.driver is None:
            await self.connected()
        assert self.driver is not None
        return self.driver

    async def execute(
        self, statement: Executable, parameters: Any = None
    ) -> Result[*tuple[Any, ...]]:
        await flush(self)
        return await (await self.connected()).execute(statement, parameters)

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        await flush(self)
        return await (await self.connected()).scalar(statement, parameters)

    async def commit(self) -> None:
        """Sends the waiting writes, then COMMIT."""
        if self.driver is None and not self.pending:
            return  # nothing was read or written
        await _run(self, "COMMIT", self._commit_begun)

    def _commit_begun(self, driver: asyncpg.Connection) -> Awaitable[None]:
        # Run by `_run`, which has begun the transaction and holds the driver's lock.
        adapted = self.driver
        assert adapted is not None and adapted._transaction is not None
        return adapted._call_and_discard(adapted._transaction.commit)

    async def close(self) -> None:
        """Rolls back what was not committed and gives the connection back to the pool;
        one whose rollback fails is not given back but thrown away."""
        self.pending = []
        connection, adapted = self.connection, self.driver
        if connection is None or adapted is None:
            return
        self.connection = self.driver = None
        try:
            if adapted._transaction is not None:
                async with adapted._execute_mutex:
                    await adapted._call_and_discard(adapted._transaction.rollback)
        except Exception:
            await connection.invalidate()
        finally:
            await connection.close()


class _Begun:
    """A transaction `_begun_with` began: committed and rolled back as asyncpg's own are,
    by a statement on the connection."""

    __slots__ = ("_driver",)

    def __init__(self, driver: asyncpg.Connection) -> None:
        self._driver = driver

    async def commit(self) -> None:
        await self._driver.execute("COMMIT")

    async def rollback(self) -> None:
        await self._driver.execute("ROLLBACK")


async def _begun_with(session: Session, sql: Compiled, params: Mapping[str, Any]) -> int | None:
    """Begins the session's transaction and runs the statement in it, in one round trip:
    PostgreSQL's simple protocol takes both in one message. That protocol has no
    parameters, so each of the statement's is written in as a quoted literal (a statement
    built of SQLAlchemy's constructs, in whose SQL a `$` is only ever a parameter).

    How many rows it touched; None, and nothing run, where it must run as any other: the
    session's transaction has begun already, or is not the default kind asyncpg's BEGIN
    makes (another isolation level, read-only), or a value is not plain text to quote
    (not a string, or with a backslash or a NUL)."""
    literals = [_literal(value) for value in sql.arguments(params)]
    if session.pending or None in literals:
        return None
    adapted = await session.adapted()
    if adapted._transaction is not None or adapted.isolation_level is not None:
        return None
    if adapted.readonly or adapted.deferrable:
        return None
    quoted = cast(list[str], literals)
    text = "BEGIN;" + _PARAMETER.sub(lambda found: quoted[int(found[1]) - 1], sql.sql)
    # Before the round trip, so that `_run` begins nothing more, and so that if BEGIN ran
    # and the statement failed the transaction is there to be rolled back (a ROLLBACK
    # outside one only draws a warning). Traced as the statement with its placeholders.
    adapted._transaction = _Begun(_driver(adapted))  # type: ignore[assignment]
    return _count(await _run(session, sql.sql, lambda raw: raw.execute(text)))


# asyncpg's positional parameters in a compiled statement: $1, $2...
_PARAMETER = re.compile(r"\$(\d+)")


def _literal(value: Any) -> str | None:
    """A string as a literal, its quotes doubled (PostgreSQL's standard strings, in which
    a backslash is a backslash); None for anything else, and for text with a backslash or
    a NUL, not to lean on that setting."""
    if type(value) is not str or "\\" in value or "\0" in value:
        return None
    return "'" + value.replace("'", "''") + "'"


# Where a statement runs: a unit's session, or a connection (already in a transaction,
# or in PostgreSQL's implicit one).
Transaction = Session | AsyncConnection


async def fetch(
    session: Transaction, statement: ClauseElement, params: Mapping[str, Any]
) -> list[Record]:
    """Runs the statement in the session's transaction; its rows (none for a write)."""
    sql = compiled(statement, params)
    return await _run(session, sql.sql, lambda raw: raw.fetch(sql.sql, *sql.arguments(params)))


async def fetch_one(
    session: Transaction, statement: ClauseElement, params: Mapping[str, Any]
) -> Record | None:
    rows = await fetch(session, statement, params)
    return rows[0] if rows else None


async def execute(session: Transaction, statement: ClauseElement, params: Mapping[str, Any]) -> int:
    """Runs a write (or a query whose rows nobody reads) in the session's transaction; how
    many rows it touched. As a unit's first statement, with text for every value, it goes
    with the transaction's BEGIN in one round trip."""
    sql = compiled(statement, params)
    if type(session) is Session:
        begun = await _begun_with(session, sql, params)
        if begun is not None:
            return begun
    status = await _run(session, sql.sql, lambda raw: raw.execute(sql.sql, *sql.arguments(params)))
    return _count(status)


async def execute_alone(
    engine: AsyncEngine, statement: ClauseElement, params: Mapping[str, Any]
) -> int:
    """One statement in a transaction of its own, PostgreSQL's implicit one: a single
    round trip, with no BEGIN or COMMIT. How many rows it touched."""
    sql = compiled(statement, params)
    status = await _alone(engine, sql, lambda raw: raw.execute(sql.sql, *sql.arguments(params)))
    return _count(status)


async def write(session: Transaction, statement: ClauseElement, params: Mapping[str, Any]) -> None:
    """A write whose count nobody reads, sent with the unit's other writes before its next
    statement or its commit. Its error, if any, is raised there. On a connection it runs
    at once."""
    await write_many(session, statement, (params,))


async def write_many(
    session: Transaction, statement: ClauseElement, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`write` of the same statement for each of `rows` (which share their names),
    compiled once; where it cannot wait, the rows go as one `execute_many`."""
    if not rows:
        return
    sql = compiled(statement, rows[0])
    part = sql.part
    if part is None or type(session) is not Session:
        await _execute_many(session, sql, rows)
        return
    for row in rows:
        if any(part.clashes(other) for other, _ in session.pending):
            await flush(session)
        session.pending.append((part, sql.arguments(row)))


async def flush(session: Transaction) -> None:
    """Sends the writes waiting on the session, if any."""
    if type(session) is Session and session.pending:
        await _run(session, None, None)


def _waiting(session: Session) -> tuple[str, list[Any]]:
    """Takes the session's waiting writes: the statement of them all and its arguments."""
    pending, session.pending = session.pending, []
    key = tuple(id(part) for part, _ in pending)
    text = _joined.get(key)
    if text is None:
        text = batch.joined([part for part, _ in pending])
        if len(_joined) < 1000:  # shapes are few; a runaway one is not kept
            _joined[key] = text
    return text, [value for _, values in pending for value in values]


async def _traced(text: str, call: Awaitable[T]) -> T:
    if tracing.enabled:
        with tracing.statement(text):
            return await call
    return await call


async def fetch_alone(
    engine: AsyncEngine, statement: ClauseElement, params: Mapping[str, Any]
) -> list[Record]:
    """One query in PostgreSQL's implicit transaction: a single round trip, where a
    connection's own transaction would be three (BEGIN, the query, ROLLBACK)."""
    sql = compiled(statement, params)
    return await _alone(engine, sql, lambda raw: raw.fetch(sql.sql, *sql.arguments(params)))


async def _alone(engine: AsyncEngine, sql: Compiled, call):
    async with engine.connect() as connection:
        adapted = _adapted(connection)
        try:
            return await _traced(sql.sql, call(adapted._connection))
        except Exception as error:
            raise await _translated(connection, adapted, sql.sql, error) from error


def _count(status: str) -> int:
    # "UPDATE 1", "INSERT 0 3", "DELETE 0": the count is last.
    return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0


async def execute_many(
    session: Transaction, statement: ClauseElement, rows: Sequence[Mapping[str, Any]]
) -> None:
    """The same write for each of `rows` (which share their names), in one round trip."""
    if rows:
        await _execute_many(session, compiled(statement, rows[0]), rows)


async def _execute_many(
    session: Transaction, sql: Compiled, rows: Sequence[Mapping[str, Any]]
) -> None:
    arguments = [sql.arguments(row) for row in rows]
    await _run(session, sql.sql, lambda raw: raw.executemany(sql.sql, arguments))


async def _run(session: Transaction, statement: str | None, call):
    """Runs `call` on the driver as `statement`, in the transaction (begun here if need
    be), after the session's waiting writes; with no statement, sends those alone."""
    if type(session) is Session:
        adapted = await session.adapted()
    else:
        adapted = _adapted(cast(AsyncConnection, session))
    # The driver's transaction is begun at the first statement, as SQLAlchemy's asyncpg
    # adapter does it, so that its statements and this module's share it.
    async with adapted._execute_mutex:
        try:
            text = "BEGIN"
            if adapted._transaction is None:
                await adapted._start_transaction()
            if type(session) is Session and session.pending:
                text, arguments = _waiting(session)
                await _traced(text, _driver(adapted).execute(text, *arguments))
            if statement is None:
                return None
            text = statement
            return await _traced(text, call(adapted._connection))
        except Exception as error:
            connection = await session.connected() if type(session) is Session else session
            raise await _translated(
                cast(AsyncConnection, connection), adapted, text, error
            ) from error


def _adapted(connection: AsyncConnection) -> AsyncAdapt_asyncpg_connection:
    """The driver connection under a checked-out connection, read without a trip through
    SQLAlchemy's greenlet (`get_raw_connection` takes one; once checked out, reading it
    does no I/O). Every engine is postgresql+asyncpg, so it is SQLAlchemy's adapter around
    asyncpg's, whose connection, lock and transaction this module works with (the
    DBAPIConnection protocol it is typed as has none of them)."""
    raw = connection.sync_connection.connection  # type: ignore[union-attr]
    return cast(AsyncAdapt_asyncpg_connection, raw.dbapi_connection)


def _driver(adapted: AsyncAdapt_asyncpg_connection) -> asyncpg.Connection:
    return cast(asyncpg.Connection, adapted._connection)


async def _translated(
    connection: AsyncConnection,
    adapted: AsyncAdapt_asyncpg_connection,
    statement: str,
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
        statement,
        None,
        error,
        connection.dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=connection.dialect,
    )
