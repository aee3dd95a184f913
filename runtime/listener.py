"""The process's one LISTEN connection, shared by every live stream it serves.

A writer NOTIFYs a channel with a key in the transaction that stores the news
(`runtime.streams.notify_trigger`); the listener wakes the streams watching that key,
which read what is new from the database. The outbox relay waits on it too, for new
outbox rows. It connects when the first stream watches,
reconnects when the connection is lost (and then wakes every stream to read again, for
what was sent while nobody listened), and checks an idle connection now and then, since
one cut without a word says nothing until it is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from runtime.streams import StreamLimits, Wait

log = logging.getLogger(__name__)

APPLICATION_NAME = "nobat-stream-listener"
# The faults a LISTEN connection ends with: the server gone, the network, a timeout.
_LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class Listener:
    """The process's one LISTEN connection, reconnecting when lost, and the streams
    waiting on it (and the outbox relay) by channel and key."""

    def __init__(
        self,
        dsn: str,
        *,
        ssl: ssl.SSLContext | None = None,
        safety_poll: float = StreamLimits.safety_poll,
        reconnect_wait: float = 1.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._ssl = ssl
        self._safety_poll = safety_poll
        self._reconnect_wait = reconnect_wait
        self._connect_timeout = connect_timeout
        self._channels: set[str] = set()
        self._watchers: dict[tuple[str, str], set[asyncio.Event]] = defaultdict(set)
        self._connection: asyncpg.Connection | None = None
        self._changing = asyncio.Lock()
        self._up = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._failures = 0

    def channel(self, name: str) -> Channel:
        return Channel(self, name)

    @contextlib.asynccontextmanager
    async def watch(
        self, channel: str, key: str, *, poll: float | None = None
    ) -> AsyncIterator[Wait]:
        """While open, the yielded function waits until `key` may have news on `channel`
        (or a safety poll's time passes: `poll`, or the listener's own). Open it before
        reading, so that nothing committed in between is missed."""
        await self._listen_to(channel)
        changed = asyncio.Event()
        watchers = self._watchers[(channel, key)]
        watchers.add(changed)
        # Streams opened together would otherwise poll together, forever.
        every = (poll or self._safety_poll) * random.uniform(0.9, 1.1)

        async def wait() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), every)
            changed.clear()

        try:
            yield wait
        finally:
            watchers.discard(changed)
            if not watchers:
                self._watchers.pop((channel, key), None)

    async def _listen_to(self, channel: str) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stream-listener")
        async with self._changing:
            if channel not in self._channels:
                self._channels.add(channel)
                if self._connection is not None:
                    with contextlib.suppress(*_LOST):
                        await self._connection.add_listener(channel, self._notified)
        # The first stream waits for the connection, briefly; without one it still
        # reads, every safety poll, until the listener is back.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), self._connect_timeout)

    async def _run(self) -> None:
        while True:
            try:
                await self._connected()
            except _LOST as exc:
                log.warning(
                    "no LISTEN connection (%s); streams and the relay poll until it is back",
                    exc,
                )
            except Exception:
                log.exception("the LISTEN connection failed; connecting again")
            # Backing off while the database stays away: a line in the log each time.
            await asyncio.sleep(min(self._reconnect_wait * 2**self._failures, 30.0))
            self._failures += 1

    async def _connected(self) -> None:
        """Listens until the connection is lost."""
        connection = await asyncpg.connect(
            self._dsn,
            ssl=self._ssl,
            timeout=self._connect_timeout,
            # Found by name in pg_stat_activity (and by the tests that cut it).
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        try:
            async with self._changing:
                for channel in self._channels:
                    await connection.add_listener(channel, self._notified)
                self._connection = connection
            self._up.set()
            self._failures = 0
            # What was sent while nobody listened is read now, by every stream.
            self._wake_all()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._safety_poll)
                if not lost.is_set():
                    # A connection cut without a word (a dead peer) is found by using it.
                    await connection.fetchval("SELECT 1", timeout=self._connect_timeout)
            raise ConnectionError("the server closed it")
        finally:
            self._up.clear()
            self._connection = None
            connection.terminate()

    def _notified(self, connection: object, pid: int, channel: str, key: str) -> None:
        for changed in self._watchers.get((channel, key), ()):
            changed.set()

    def _wake_all(self) -> None:
        for watchers in self._watchers.values():
            for changed in watchers:
                changed.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@dataclass(frozen=True)
class Channel:
    """One channel of the process's listener: what a service's streams watch."""

    listener: Listener
    name: str

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[Wait]:
        return self.listener.watch(self.name, key)
