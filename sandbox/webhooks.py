"""Stripe events, sent to the webhook endpoint and signed as Stripe signs them.

`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">`, signed anew
at each try. A delivery that fails (no connection, or any answer but 2xx) is tried again
after 0.2 s, doubling up to 10 s, for as long as `retry_for` seconds, so a payment
service that was down gets its events when it comes back. Deliveries run in tasks of
their own: a slow or failing endpoint never holds up the API.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import aiohttp
from yarl import URL

from sandbox.objects import Clock, new_id
from sandbox.switches import Switches

# The API version of the stripe SDK nobat pins; events are rendered in it.
API_VERSION = "2026-10-28.endive"
_FIRST_RETRY_SECONDS = 0.2
_LONGEST_RETRY_SECONDS = 10.0
_ATTEMPT_TIMEOUT = aiohttp.ClientTimeout(total=10)
# What every delivery carries; only the signature differs from one to the next.
_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
}

log = logging.getLogger("sandbox.webhooks")

# The API request being answered, as (its Request-Id, its Idempotency-Key): an event it
# causes names it in `request`, as Stripe's do. Unset (None, None) for what the hosted
# page, the control API or a timer does. Timers are scheduled in an empty context, so
# an expiry never borrows the request that created the session.
current_request: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "current_request", default=(None, None)
)
# Stripe's webhook endpoint setting for "send every event".
ALL_EVENTS = "*"


@dataclass(frozen=True)
class Outgoing:
    # "<type> <event id>", for the log.
    event: str
    body: bytes
    secret: str


class Webhooks:
    def __init__(
        self,
        url: str,
        secret: str,
        switches: Switches,
        retry_for: float,
        clock: Clock,
        enabled_events: Collection[str] = (ALL_EVENTS,),
    ) -> None:
        """`enabled_events` are the endpoint's, as set on a Stripe webhook endpoint: the
        types it is sent, or "*" for all. Events of other types happen all the same
        (they settle what `reverse` holds) but are neither sent nor kept for resending."""
        self.url = url
        # Parsed once, not at each delivery.
        self._target = URL(url)
        self.secret = secret
        self.switches = switches
        self.retry_for = retry_for
        self.clock = clock
        self.enabled_events = frozenset(enabled_events)
        self.stats: Counter[str] = Counter()
        # Under `reverse`: the events of each session (or refund) not yet settled.
        self._held: dict[str, list[Outgoing]] = {}
        self._by_session: defaultdict[str, list[tuple[str, bytes]]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # Stripe's deliveries carry no cookies, whatever the endpoint sets: none are kept.
        self._http = aiohttp.ClientSession(
            timeout=_ATTEMPT_TIMEOUT, headers=_HEADERS, cookie_jar=aiohttp.DummyCookieJar()
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def publish(
        self,
        event_type: str,
        snapshot: dict[str, Any],
        session_id: str,
        *,
        group: str,
        settled: bool,
        drop: bool = False,
        previous: dict[str, Any] | None = None,
    ) -> None:
        """Sends an event about `snapshot`, an object as it is now. `group` is the session
        or refund it belongs to, `settled` whether that has reached its final state;
        `previous` the values that changed, as they were (a `*.updated` event's
        `previous_attributes`)."""
        outgoing: list[Outgoing] = []
        if ALL_EVENTS in self.enabled_events or event_type in self.enabled_events:
            request_id, idempotency_key = current_request.get()
            data: dict[str, Any] = {"object": snapshot}
            if previous is not None:
                data["previous_attributes"] = previous
            event = {
                "id": new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": self.clock.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": request_id, "idempotency_key": idempotency_key},
                "type": event_type,
            }
            named = f"{event_type} {event['id']}"
            body = json.dumps(event).encode()
            self._by_session[session_id].append((named, body))
            secret = f"whsec_not_{self.secret}" if self.switches.bad_signature else self.secret
            if drop or self.switches.take("drop"):
                self.stats["dropped"] += 1
                log.info("dropped %s", named)
            else:
                outgoing.append(Outgoing(named, body, secret))
        if self.switches.reverse or group in self._held:
            self._held.setdefault(group, []).extend(outgoing)
            held = self._held.pop(group) if settled else []
            if held:
                self._send(held[::-1])
        elif outgoing:
            self._send(outgoing)

    def release_held(self) -> None:
        """Sends every event held under `reverse` now, each group newest first."""
        groups, self._held = self._held, {}
        for held in groups.values():
            self._send(held[::-1])

    def resend(self, session_id: str) -> int:
        """Sends again, in order and well signed, every event there was about a session."""
        events = self._by_session.get(session_id, [])
        if events:
            self._send([Outgoing(*event, self.secret) for event in events], copies=1, delay=0)
        return len(events)

    @property
    def held(self) -> int:
        return sum(len(held) for held in self._held.values())

    def _send(
        self, batch: list[Outgoing], copies: int | None = None, delay: float | None = None
    ) -> None:
        copies = self.switches.duplicate if copies is None else copies
        delay = self.switches.delay_seconds if delay is None else delay
        task = asyncio.get_running_loop().create_task(self._deliver_in_order(batch, copies, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_in_order(self, batch: list[Outgoing], copies: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        for outgoing in batch:
            if copies == 1:
                # The usual case, without the task and future a gather of one would make.
                await self._deliver(outgoing)
            else:
                await asyncio.gather(*(self._deliver(outgoing) for _ in range(copies)))

    async def _deliver(self, outgoing: Outgoing) -> None:
        self.stats["in_flight"] += 1
        try:
            deadline = time.monotonic() + self.retry_for
            wait = _FIRST_RETRY_SECONDS
            while not await self._attempt(outgoing):
                self.stats["failed"] += 1
                if time.monotonic() + wait > deadline:
                    self.stats["abandoned"] += 1
                    return
                await asyncio.sleep(wait)
                wait = min(wait * 2, _LONGEST_RETRY_SECONDS)
            self.stats["delivered"] += 1
        finally:
            self.stats["in_flight"] -= 1

    async def _attempt(self, outgoing: Outgoing) -> bool:
        assert self._http is not None, "start() the webhooks first"
        timestamp = int(time.time())
        signed = f"{timestamp}.".encode() + outgoing.body
        signature = hmac.new(outgoing.secret.encode(), signed, sha256).hexdigest()
        headers = {"Stripe-Signature": f"t={timestamp},v1={signature}"}
        try:
            async with self._http.post(self._target, data=outgoing.body, headers=headers) as answer:
                log.info("%s: %s answered %d", outgoing.event, self.url, answer.status)
                return 200 <= answer.status < 300
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("%s: %s failed: %r", outgoing.event, self.url, exc)
            return False
