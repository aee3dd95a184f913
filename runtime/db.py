"""The database side of a use case: the engine and the unit of work."""

from __future__ import annotations

import functools
import logging
import ssl
import uuid
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

from google.protobuf.message import Message
from sqlalchemy import exc, insert
from sqlalchemy.event import listen
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from runtime import logs, sql, tracing
from runtime.events import Stream, envelope
from runtime.purge import RUNTIME, Purge, purge
from runtime.retention import Retention
from runtime.schema import outbox

log = logging.getLogger(__name__)

T = TypeVar("T")


def create_engine(
    url: str, *, pool_size: int = 20, ssl: ssl.SSLContext | None = None
) -> AsyncEngine:
    """`ssl`: TLS to PostgreSQL, verified as the context says (runtime.tls); None: plaintext."""
    engine = _create_async_engine(
        url,
        # Every connection stays open: an overflow connection, closed when it came back,
        # was opened again at the next burst (a backend forked, types introspected, every
        # hot statement prepared anew), a tenth of payment's CPU under load. A unit past
        # the pool's size waits for one instead.
        pool_size=pool_size,
        max_overflow=0,
        # No pre-ping: it is a round trip on every checkout, a sixth of a flow's. A
        # connection the server closed (a restart, a terminated backend) is noticed
        # without one (`_closed_by_server`); one lost silently fails its first statement,
        # which invalidates the pool's older connections too, and is retried as a lost
        # race is (runtime.retry) or answered UNAVAILABLE (runtime.rpc).
        pool_pre_ping=False,
        connect_args=connect_args(ssl),
        # A database error's text is logged with the statement; its bound values (chat
        # text, symptoms, addresses) must not be.
        hide_parameters=True,
    )
    listen(engine.sync_engine, "checkout", _closed_by_server)
    tracing.trace_engine(engine.sync_engine)
    return engine


def _closed_by_server(dbapi_connection, record, proxy) -> None:
    """Refuses a pooled connection whose socket the server has closed; the pool then
    opens a fresh one. Free: asyncpg has already seen the close on its socket."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this connection")


def connect_args(ssl: ssl.SSLContext | None) -> dict:
    """What asyncpg is given on every connection of an engine."""
    args: dict = {"server_settings": {"application_name": "nobat"}}
    if ssl is not None:
        args["ssl"] = ssl
    return args


# What opens a unit's session (runtime.sql.Session) with PostgreSQL.
Sessions = Callable[[], sql.Session]


def sessionmaker(engine: AsyncEngine) -> Sessions:
    return functools.partial(sql.Session, engine)


_OUTBOX_ROW = insert(outbox)


class UnitOfWork:
    """One transaction per use case: rolls back unless committed.

    Events emitted during the use case are written to the outbox in the same commit, so
    a state change and the news of it are never separated.

    A service subclasses it to put its repositories on the unit (`repositories`), built
    on each transaction's session, and to say how its entities' facts become messages
    (`event_message`).

    Units nest: when a caller has already opened the unit (the consumer recording an
    inbox row, the gRPC layer storing an idempotent answer), a handler's own
    `async with uow` and `commit()` join that transaction and the outermost commit is
    the real one. Handlers are written the same way whoever calls them.
    """

    # How an entity's recorded fact becomes the message published for it (None for a
    # fact that stays inside the service). Each service's takes its own facts.
    event_message: ClassVar[Callable[[Any], Message | None] | None] = None
    # Who publishes the events a commit wrote, at once (the service's outbox relay); with
    # none, the relay's poll finds them.
    hand_over: Callable[[list[dict]], None] | None = None
    # What housekeeping deletes from this database once past its use (runtime.purge): the
    # runtime's tables', and a service's own after them.
    purges: ClassVar[tuple[Purge, ...]] = RUNTIME

    def __init__(self, sessions: Sessions, publisher: Stream | None = None) -> None:
        self._sessions = sessions
        # The stream this service states its facts on; None for one that states none.
        self._publisher = publisher
        self._depth = 0
        self._committed = False
        self._events: list[dict] = []
        self.session: sql.Session

    async def __aenter__(self) -> Self:
        if self._depth == 0:
            self.session = self._sessions()
            self.repositories(self.session)
            self._events = []
            self._committed = False
        self._depth += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        # What was not committed is rolled back as the connection goes back to the pool.
        await self.session.close()

    async def purge_past_use(self, retention: Retention, now: datetime) -> dict[str, int]:
        """Deletes, batch by batch, each in a transaction of its own, what `purges` find
        past their use at `now`; the rows deleted by table."""
        return await purge(self, self.purges, retention, now)

    def repositories(self, session: sql.Session) -> None:
        """Puts the service's repositories, on this transaction's session, on the unit."""

    def emit(self, message: Message, *, correlation_id: str | None = None) -> uuid.UUID:
        """Queue an event for the outbox; it is written only if this unit commits."""
        if self._publisher is None:
            raise RuntimeError(f"{type(message).__name__}: this service publishes no events")
        event_id = uuid.uuid4()
        self._events.append(
            envelope(
                message, event_id, correlation_id or logs.correlation_id.get(), self._publisher
            )
        )
        return event_id

    def publish(self, *entities: object, correlation_id: str | None = None) -> None:
        """Queues for the outbox the facts each entity recorded in its `events` list, as
        the service's `event_message` makes them, and clears the lists. A fact it makes no
        message of (None) is the service's own business, such as a refund still to send."""
        to_message = type(self).event_message
        for entity in entities:
            if entity is None:
                continue
            events = entity.events  # type: ignore[attr-defined]
            for event in events:
                if to_message is None:
                    raise RuntimeError(f"{type(self).__name__} names no event_message")
                message = to_message(event)
                if message is not None:
                    self.emit(message, correlation_id=correlation_id)
            events.clear()

    async def _write_outbox(self) -> None:
        if self._events:
            await sql.write_many(self.session, _OUTBOX_ROW, self._events)
            self._events = []

    async def _commit(self) -> None:
        await self._write_outbox()
        await self.session.commit()

    async def commit(self) -> None:
        if self._depth > 1:
            return
        written = self._events
        if tracing.enabled:
            with tracing.committing(written):
                await self._commit()
        else:
            await self._commit()
        self._committed = True
        if written and self.hand_over is not None:
            self.hand_over(written)
