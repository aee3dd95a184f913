"""The in-memory unit of work a handler's unit test runs on, as runtime.unit describes it.

Its repositories keep copies: a handler's change to what it loaded reaches the store only
through `save`, and only if the unit commits, as with the database. `published` is what
committed units queued for the outbox: the domain events entities recorded (`publish`) and
the messages emitted as they are (`emit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import ClassVar, Generic, Self, TypeVar

from runtime.streams import Wait

T = TypeVar("T")


class InMemoryRows(Generic[T]):
    """Whole aggregates by key, the in-memory side of runtime.rows.Rows."""

    # The aggregate's attribute that is its key.
    key: ClassVar[str] = "id"

    def __init__(self, *aggregates: T) -> None:
        self._rows: dict[str, T] = {}
        self._before: dict[str, T] = {}
        for aggregate in aggregates:
            self._rows[self._key(aggregate)] = _stored(aggregate)

    def _key(self, aggregate: T) -> str:
        return getattr(aggregate, self.key)

    async def get(self, key: str, /, *, for_update: bool = False) -> T | None:
        found = self._rows.get(key)
        return copy.deepcopy(found) if found is not None else None

    async def save(self, aggregate: T) -> None:
        self._rows[self._key(aggregate)] = _stored(aggregate)

    def all(self) -> list[T]:
        """What is stored, in the order it was first saved."""
        return [copy.deepcopy(row) for row in self._rows.values()]

    def begin(self) -> None:
        self._before = dict(self._rows)

    def rollback(self) -> None:
        self._rows = self._before


def _stored(aggregate: T) -> T:
    """A copy as a row keeps it: without the facts recorded but not yet published."""
    kept = copy.deepcopy(aggregate)
    events = getattr(kept, "events", None)
    if isinstance(events, list):
        events.clear()
    return kept


class FakeUnitOfWork:
    """A service's unit of work in memory: `repositories` are put on it by name."""

    def __init__(self, **repositories: object) -> None:
        self._repositories = repositories
        for name, repository in repositories.items():
            setattr(self, name, repository)
        self.published: list[object] = []
        self.commits = 0
        self._pending: list[object] = []
        self._depth = 0
        self._committed = False

    async def __aenter__(self) -> Self:
        if self._depth == 0:
            self._pending = []
            self._committed = False
            for repository in self._stores():
                repository.begin()
        self._depth += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0 and not self._committed:
            for repository in self._stores():
                repository.rollback()

    async def commit(self) -> None:
        if self._depth > 1:
            return
        self.published.extend(self._pending)
        self._pending = []
        self.commits += 1
        self._committed = True

    def emit(self, message: object, *, correlation_id: str | None = None) -> uuid.UUID:
        self._pending.append(message)
        return uuid.uuid4()

    def publish(self, *entities: object, correlation_id: str | None = None) -> None:
        for entity in entities:
            if entity is None:
                continue
            events = entity.events  # type: ignore[attr-defined]
            self._pending.extend(events)
            events.clear()

    def _stores(self) -> list:
        """The repositories that keep rows (and so begin and roll back with the unit)."""
        return [r for r in self._repositories.values() if hasattr(r, "rollback")]

    def of(self, kind: type) -> list:
        """The published facts of one kind, in order."""
        return [fact for fact in self.published if isinstance(fact, kind)]


class FakeWatch:
    """A live stream's wake-up (runtime.streams.Watch): `news(key)` wakes the watchers of
    `key`, as a committed NOTIFY does; news before anyone waits is kept for them. There is
    no safety poll: a stream waits until it is told."""

    def __init__(self) -> None:
        self._news: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.watching: list[str] = []

    @contextlib.asynccontextmanager
    async def watch(self, key: str) -> AsyncIterator[Wait]:
        news = self._news[key]

        async def wait() -> None:
            await news.wait()
            news.clear()

        self.watching.append(key)
        try:
            yield wait
        finally:
            self.watching.remove(key)

    def news(self, key: str) -> None:
        self._news[key].set()
