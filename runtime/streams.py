"""Live streams (server-streaming RPCs): how they hear of news, and how long they live.

News: one LISTEN connection per process (runtime.listener) serves every stream the process
holds. A writer NOTIFYs a channel with a key (a consultation's id, a user's id) in the
transaction that stores the news, so the wake-up is sent only if it commits; the listener
wakes the streams watching that key, and each reads what is new from the database. The
NOTIFY is a hint, never the record: a stream also reads again every `safety_poll` seconds
and whenever the listener has reconnected, so a lost NOTIFY costs latency, not news.

Life: every stream is bounded by the interceptor (runtime.rpc) with `StreamLimits`: at
most `per_user` open at once per caller on one process (RESOURCE_EXHAUSTED beyond; the
count is per process, since a replica knows only its own streams), ended with
UNAUTHENTICATED when the caller's token expires (a stream outliving its token would be a
way past sign-out), and ended OK after `max_age`, so clients reconnect, pick up new
tokens and spread over the replicas there are now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from prometheus_client import Gauge

from runtime import auth, errors

log = logging.getLogger(__name__)

# What a stream calls when it has read everything: returns when there may be news.
Wait = Callable[[], Awaitable[None]]


class Watch(Protocol):
    """How a handler's stream hears of news (runtime.listener.Channel; a fake in unit tests)."""

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[Wait]:
        """While open, the yielded function waits until `key` may have news (or a safety
        poll's time passes). Open it before reading, so that nothing committed in between
        is missed."""


open_streams = Gauge("nobat_open_streams", "Live streams open on this process.")


@dataclass(frozen=True)
class StreamLimits:
    # Open streams per caller on one process; a phone and a laptop with a chat and the
    # notification feed each fit.
    per_user: int = 5
    # A stream ends OK after this long; the client reconnects.
    max_age: float = 1800.0
    # A stream reads again after this long without a NOTIFY, in case one was lost.
    safety_poll: float = 20.0
    # How soon a caller refused for too many streams should try again: time for a stream
    # whose client vanished to be noticed by keepalive and closed.
    retry_after: float = 40.0


class TooManyStreams(errors.ResourceExhausted):
    def __init__(self, caller: auth.Caller, limit: int, retry_after: float) -> None:
        super().__init__(
            f"at most {limit} live streams per user are open at once on one server; close "
            "one of yours before opening another",
            subject=f"{caller.role}:{caller.subject}",
            retry_after=timedelta(seconds=retry_after),
            limit=limit,
        )


class StreamExpired(errors.Unauthenticated):
    def __init__(self) -> None:
        super().__init__("token expired while streaming; open the stream again with a new token")


class OpenStreams:
    """The streams open on this process, counted per caller, and each one's lifetime."""

    def __init__(self, limits: StreamLimits, clock: Callable[[], float] = time.time) -> None:
        """`clock`: seconds since the epoch, as tokens' `exp` are; tests move it."""
        self.limits = limits
        self._clock = clock
        self._open: Counter[tuple[str, str]] = Counter()

    @contextlib.contextmanager
    def _counted(self, caller: auth.Caller) -> Iterator[None]:
        key = (caller.role, caller.subject)
        if self._open[key] >= self.limits.per_user:
            raise TooManyStreams(caller, self.limits.per_user, self.limits.retry_after)
        self._open[key] += 1
        open_streams.inc()
        try:
            yield
        finally:
            open_streams.dec()
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]

    async def serve(self, caller: auth.Caller, responses: AsyncGenerator) -> AsyncIterator:
        """`responses` for as long as the stream may live: until they end, the caller's
        token expires (StreamExpired) or the stream reaches its maximum age (ends OK)."""
        with self._counted(caller):
            ends_at = time.monotonic() + self.limits.max_age
            expired = False
            try:
                while True:
                    age_left = ends_at - time.monotonic()
                    token_left = self._token_left(caller)
                    expired = token_left <= age_left
                    if min(age_left, token_left) <= 0:
                        break
                    # A task of its own, so an idle stream's wait can be cut at its end.
                    reading = asyncio.ensure_future(anext(responses))
                    try:
                        await asyncio.wait({reading}, timeout=min(age_left, token_left))
                    finally:
                        if not reading.done():
                            reading.cancel()
                            # The stream must have stopped before it is closed.
                            await asyncio.wait({reading})
                    if reading.cancelled():
                        break
                    try:
                        response = reading.result()
                    except StopAsyncIteration:
                        return
                    yield response
            finally:
                await responses.aclose()
            if expired:
                raise StreamExpired()

    def _token_left(self, caller: auth.Caller) -> float:
        if caller.expires_at is None:
            return float("inf")
        return caller.expires_at - self._clock()


def notify_trigger(function: str, channel: str, key: str) -> str:
    """SQL for a trigger function that NOTIFYs `channel` with the row's `key` column.
    In the writer's transaction, so the NOTIFY goes out only when it commits."""
    return f"""
    CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
    BEGIN PERFORM pg_notify('{channel}', NEW.{key}); RETURN NULL; END
    $$ LANGUAGE plpgsql
    """
