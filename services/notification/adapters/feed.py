"""Live streams' wake-up: one LISTEN connection per process for every stream it serves.

A committed notification NOTIFYs its user's id (a trigger in the schema); the listener
wakes the streams of that user. NOTIFY is a hint, not the record: a stream always reads
its feed from the table after its cursor, and also polls now and then, so a lost
listener costs latency, never a notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

from services.notification.adapters.tables import FEED_CHANNEL

log = logging.getLogger(__name__)


class FeedListener:
    def __init__(
        self, dsn: str, poll_interval: float = 1.0, ssl: ssl.SSLContext | None = None
    ) -> None:
        self._dsn = dsn
        self._ssl = ssl
        self._poll_interval = poll_interval
        self._connection: asyncpg.Connection | None = None
        self._connecting = asyncio.Lock()
        self._watchers: dict[str, set[asyncio.Event]] = defaultdict(set)

    @contextlib.asynccontextmanager
    async def watch(self, user_id: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        await self._listen()
        changed = asyncio.Event()
        self._watchers[user_id].add(changed)

        async def wait() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), self._poll_interval)
            changed.clear()

        try:
            yield wait
        finally:
            watchers = self._watchers[user_id]
            watchers.discard(changed)
            if not watchers:
                del self._watchers[user_id]

    async def _listen(self) -> None:
        async with self._connecting:
            if self._connection is not None and not self._connection.is_closed():
                return
            try:
                self._connection = await asyncpg.connect(self._dsn, ssl=self._ssl, timeout=5)
                await self._connection.add_listener(FEED_CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                self._connection = None
                log.warning("live streams cannot LISTEN, polling instead: %s", exc)

    def _notified(self, connection: object, pid: int, channel: str, user_id: str) -> None:
        for changed in self._watchers.get(user_id, ()):
            changed.set()

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=1)
