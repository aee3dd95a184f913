"""The durable pull consumer: every event has its effect exactly once.

JetStream delivers at least once; the inbox row `(consumer, event_id)`, inserted in the
same transaction as the handler's effect, turns that into exactly once: a redelivered
event finds its row and is acked without running again. The message is acked only after
the commit, so a crash anywhere before the ack means a redelivery, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from sqlalchemy import insert

from runtime import faults, logs, metrics, sql, tracing
from runtime.db import UnitOfWork
from runtime.events import CORRELATION_ID, EVENT_ID, Stream, purchase_kind
from runtime.retry import retrying
from runtime.rows import claim
from runtime.schema import dead_letters, inbox

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Message)
EventHandler = Callable[[E, UnitOfWork], Awaitable[None]]


@dataclass(frozen=True)
class Concerning:
    """A handler of only the events of its type that `concerns` picks out (payment's
    events about another context's purchases, say). The others are acked as they come,
    without a transaction: nothing could come of them, so a redelivery is as harmless.

    `kind`: the purchases it concerns, on a stream that names their kind in its subjects
    (runtime.events): NATS then delivers none of another kind, so the consumer is spared
    them, and `concerns` passes over only those published before subjects named kinds."""

    concerns: Callable[[Message], bool]
    handle: EventHandler
    kind: str = ""

    @classmethod
    def purchases_of(cls, kind: str, handle: EventHandler) -> Concerning:
        return cls(lambda event: purchase_kind(event) == kind, handle, kind)


# What a consumer is given: each event type it takes, and who handles it.
EventHandlers = Mapping[type[Message], EventHandler | Concerning]


# Reusable, so an untraced delivery makes nothing to stand in for its span.
_UNTRACED = contextlib.nullcontext()


def _all(event: Message) -> bool:
    return True


def _by_subject(family, consumer: str, types: Mapping[str, str]) -> dict:
    """`family`'s child for each subject's event type, and one for UNKNOWN_EVENT (key None)."""
    children: dict[str | None, Any] = {
        subject: family.labels(consumer, name) for subject, name in types.items()
    }
    children[None] = family.labels(consumer, metrics.UNKNOWN_EVENT)
    return children


def _counter_for(children: dict, subject: str):
    return children.get(subject) or children[None]


# What became of a delivery (the events_consumed counter's outcome label).
_OUTCOMES = ("handled", "duplicate", "passed_over", "retried", "dead_lettered")


class PermanentFailure(Exception):
    """A handler's verdict that this event can never be handled; it is dead-lettered."""


class EventConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        name: str,
        stream: Stream,
        handlers: EventHandlers,
        unit_of_work: Callable[[], UnitOfWork],
        ack_wait: float = 30.0,
        max_deliver: int = 20,
        batch: int = 10,
        fetch_timeout: float = 1.0,
        max_nak_delay: float = 60.0,
    ) -> None:
        self.name = name
        self._js = js
        self._stream = stream
        # By each type's subject; one naming a purchase's kind is found by its bare part.
        self._handlers = {
            stream.subject_for(t): (
                t,
                h if isinstance(h, Concerning) else Concerning(_all, h),
            )
            for t, h in handlers.items()
        }
        self._filters = sorted(
            subject
            for t, h in handlers.items()
            for subject in stream.subjects_to_read(t, h.kind if isinstance(h, Concerning) else "")
        )
        # Bound once, here: a delivery only increments (the relay and consumers are the hot
        # path). A subject no handler knows is counted as UNKNOWN_EVENT.
        types = {subject: t.DESCRIPTOR.name for subject, (t, _) in self._handlers.items()}
        self._redelivered = _by_subject(metrics.redeliveries, name, types)
        self._dead_lettered = _by_subject(metrics.dead_letters, name, types)
        self._pending = metrics.consumer_pending.labels(name)
        self._consumed = {
            outcome: metrics.events_consumed.labels(name, outcome) for outcome in _OUTCOMES
        }
        self._unit_of_work = unit_of_work
        self._ack_wait = ack_wait
        self._max_deliver = max_deliver
        self._batch = batch
        self._fetch_timeout = fetch_timeout
        self._max_nak_delay = max_nak_delay
        self._stopping = False
        self._sub: JetStreamContext.PullSubscription | None = None

    async def start(self) -> None:
        """Create or update the durable consumer (idempotent) and bind to it; NotFoundError
        while the stream's publisher has not created it yet."""
        await self._js.add_consumer(
            self._stream.name,
            ConsumerConfig(
                name=self.name,
                durable_name=self.name,
                filter_subjects=self._filters,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._ack_wait,
                max_deliver=self._max_deliver,
                max_ack_pending=1000,
            ),
        )
        self._sub = await self._js.pull_subscribe_bind(durable=self.name, stream=self._stream.name)

    async def run(self) -> None:
        """Bind (waiting for the stream, which its publisher creates), then handle what comes
        until stopped."""
        failures = 0
        while self._sub is None and not self._stopping:
            try:
                await self.start()
            except Exception as exc:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("consumer %s cannot bind yet: %s", self.name, exc)
                await asyncio.sleep(min(0.05 * 2 ** min(failures, 6), 2.0))
        if self._sub is None:  # stopped before it bound
            return
        failures = 0
        while not self._stopping:
            try:
                messages = await self._sub.fetch(self._batch, timeout=self._fetch_timeout)
                failures = 0
            except TimeoutError:
                continue
            except Exception as exc:
                if self._stopping:
                    break
                failures += 1
                log.warning("consumer %s cannot fetch: %s", self.name, exc)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            await self._handle_batch(messages)

    async def stop(self) -> None:
        """Stop fetching; the pull subscription is removed so draining NATS does not stall."""
        self._stopping = True
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _handle_batch(self, messages: list[Msg]) -> None:
        """Handles a fetched batch, each message on its own, while one timer tells
        JetStream which of them are still being worked on, so a long handler is not
        redelivered meanwhile. One timer a batch, not one a message: nearly every handler
        ends long before the first beat, and per message the timer (a task before it) was
        a measurable part of a consumer's CPU."""
        working = {id(msg): msg for msg in messages}
        loop = asyncio.get_running_loop()
        every = self._ack_wait / 3
        beats: set[asyncio.Task] = set()
        timer: asyncio.TimerHandle

        def beat() -> None:
            nonlocal timer
            for msg in working.values():
                task = loop.create_task(_still_working(msg))
                beats.add(task)
                task.add_done_callback(beats.discard)
            timer = loop.call_later(every, beat)

        async def handle(msg: Msg) -> None:
            try:
                await self._handle(msg)
            finally:
                del working[id(msg)]

        timer = loop.call_later(every, beat)
        try:
            if len(messages) == 1:
                # The usual batch off peak: no task to gather it into.
                await handle(messages[0])
            else:
                await asyncio.gather(*(handle(msg) for msg in messages))
        finally:
            timer.cancel()

    async def _handle(self, msg: Msg) -> None:
        # Parsed from the reply subject on every reading.
        metadata = msg.metadata
        delivered = metadata.num_delivered
        self._pending.set(metadata.num_pending)
        subject = self._bare(msg.subject)
        registered = self._handlers.get(subject)
        if delivered > 1:
            _counter_for(self._redelivered, subject).inc()
        headers = msg.headers or {}
        event_id = headers.get(EVENT_ID)
        if event_id is None or registered is None:
            await self._dead_letter(msg, event_id, f"no handler or no event id for {msg.subject}")
            return
        message_type, handler = registered
        try:
            event = message_type.FromString(msg.data)
        except DecodeError as exc:
            await self._dead_letter(msg, event_id, f"undecodable {msg.subject}: {exc}")
            return
        if not handler.concerns(event):
            self._consumed["passed_over"].inc()
            try:
                await msg.ack()
            except Exception as exc:
                # Redelivered, it is passed over again.
                log.debug("ack of %s failed: %s", event_id, exc)
            return

        token = logs.correlation_id.set(headers.get(CORRELATION_ID, ""))
        span = tracing.consuming(msg.subject, self.name, headers) if tracing.enabled else _UNTRACED
        try:
            with span:
                outcome = await retrying(lambda: self._apply(event_id, event, handler.handle))
        except PermanentFailure as exc:
            await self._dead_letter(msg, event_id, f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:
            if delivered >= self._max_deliver:
                await self._dead_letter(msg, event_id, f"gave up after {delivered}: {exc!r}")
                return
            delay = min(2.0 ** (delivered - 1), self._max_nak_delay)
            log.warning(
                "handling %s %s failed (delivery %d), retrying in %.0fs",
                msg.subject,
                event_id,
                delivered,
                delay,
                exc_info=True,
            )
            self._consumed["retried"].inc()
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
            return
        finally:
            logs.correlation_id.reset(token)

        faults.crash_point(faults.CONSUMER_AFTER_COMMIT)
        self._consumed[outcome].inc()
        try:
            await msg.ack()
        except Exception as exc:
            # The effect is committed; the redelivery this causes will meet the inbox row.
            log.warning("ack of %s failed: %s", event_id, exc)

    async def _apply(self, event_id: str, event: Message, handler: EventHandler) -> str:
        uow = self._unit_of_work()
        async with uow:
            if not await self._claim(uow, event_id):
                return "duplicate"
            await handler(event, uow)
            faults.crash_point(faults.CONSUMER_BEFORE_COMMIT)
            await uow.commit()
        return "handled"

    async def _claim(self, uow: UnitOfWork, event_id: str) -> bool:
        """Inserts the event's inbox row as the unit's first statement (sent with its BEGIN,
        runtime.sql.execute): False if the row was there already (the event had its effect)."""
        row = {"consumer": self.name, "event_id": event_id}
        return await sql.execute(uow.session, claim(inbox), row) == 1

    def _bare(self, subject: str) -> str:
        """The subject of the event's type, less a purchase's kind."""
        return subject if subject in self._handlers else subject.rpartition(".")[0]

    async def _dead_letter(self, msg: Msg, event_id: str | None, error: str) -> None:
        log.error("dead-lettering %s %s: %s", msg.subject, event_id, error)
        try:
            uow = self._unit_of_work()
            async with uow:
                await uow.session.execute(
                    insert(dead_letters).values(
                        consumer=self.name,
                        event_id=event_id,
                        subject=msg.subject,
                        headers=dict(msg.headers or {}),
                        payload=msg.data,
                        error=error[:2000],
                    )
                )
                await uow.commit()
        except Exception:
            # Without its dead-letter row the message must not be dropped: try again later.
            log.exception("cannot record dead letter for %s", event_id)
            with contextlib.suppress(Exception):
                await msg.nak(delay=self._max_nak_delay)
            return
        _counter_for(self._dead_lettered, self._bare(msg.subject)).inc()
        self._consumed["dead_lettered"].inc()
        with contextlib.suppress(Exception):
            await msg.term()


async def _still_working(msg: Msg) -> None:
    with contextlib.suppress(Exception):
        await msg.in_progress()
