"""What a handler sees of a transaction, whatever keeps it: the database's unit of work in
a running service (runtime.db), an in-memory one in a handler's unit test.

A service's unit carries its repositories as attributes (`uow.slots`, `uow.checkouts`),
so handlers name what they load and save and never how it is stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from google.protobuf.message import Message

from runtime.retention import Retention


class Unit(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    def emit(self, message: Message, *, correlation_id: str | None = None) -> uuid.UUID:
        """Queue one event for the outbox of this unit's commit."""
        ...

    def publish(self, *entities: object, correlation_id: str | None = None) -> None:
        """Queue the facts each entity recorded in its `events` list, and clear the lists."""
        ...

    async def purge_past_use(self, retention: Retention, now: datetime) -> dict[str, int]:
        """Housekeeping (runtime.purge): deletes what is kept past its use, in batches of
        their own transactions; the rows deleted by table."""
        ...
