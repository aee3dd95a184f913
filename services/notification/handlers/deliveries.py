"""The delivery job: claims what is due, sends it through its channel, records the outcome.

Claiming is one short transaction (FOR UPDATE SKIP LOCKED, so replicas share the work)
that counts the try and leases the delivery; the sends run after its commit, side by side,
each within the send timeout, so one slow or dead channel delays nobody else; the batch's
outcomes are then recorded together, each only if its claim still holds the delivery.

The job runs on a schedule, for retries and for leases that ran out, and also whenever the
Courier is told that new deliveries were committed, so a notification goes out at once
rather than at the next turn, and a service with nothing due polls seldom.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from runtime.retry import retrying
from services.notification.domain.contact import Channel, masked
from services.notification.domain.delivery import Delivery, DeliveryFailed
from services.notification.domain.notification import Notification
from services.notification.handlers.context import Context

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "nobat_notification_deliveries_total",
    "Tries to send a notification, by channel and outcome.",
    ["channel", "outcome"],
)


async def deliver_due(ctx: Context) -> int:
    """Sends one batch of due deliveries; returns how many were claimed."""
    claimed = await retrying(lambda: _claim(ctx))
    if not claimed:
        return 0
    failures = await asyncio.gather(*(_send(ctx, d, n) for d, n in claimed))
    outcomes = [
        (delivery, failure) for (delivery, _), failure in zip(claimed, failures, strict=True)
    ]
    try:
        await retrying(lambda: _record(ctx, outcomes))
    except Exception:
        # The leases run out and the deliveries are tried again; nothing is lost.
        log.exception("recording %d deliveries failed", len(outcomes))
    return len(claimed)


class Courier:
    """Runs the delivery job each time it is woken, in the background: never two runs at
    once, and a wake-up during a run makes one more run, so nothing committed meanwhile
    waits for the schedule. A run that claimed a full batch is followed by another."""

    def __init__(self, job: Callable[[], Awaitable[int]], batch: int) -> None:
        self._job = job
        self._batch = batch
        self._running: asyncio.Task[None] | None = None
        self._again = False

    def wake(self) -> None:
        if self._running is not None and not self._running.done():
            self._again = True
            return
        self._running = asyncio.create_task(self._run(), name="deliver-notifications-now")

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                claimed = await self._job()
            except Exception:
                # What it held is claimed again by the schedule once its lease runs out.
                log.exception("delivering new notifications failed; the schedule retries")
                return
            if not self._again and claimed < self._batch:
                return

    async def close(self) -> None:
        """Lets the run in progress record what it sent."""
        if self._running is not None:
            with contextlib.suppress(Exception):
                await self._running


async def _claim(ctx: Context) -> list[tuple[Delivery, Notification]]:
    uow = ctx.unit_of_work()
    async with uow:
        now = ctx.clock()
        due = await uow.deliveries.due(now, ctx.settings.batch)
        if not due:
            return []
        for delivery in due:
            delivery.claim(now, ctx.settings.retry)
        await uow.deliveries.save_all(due)
        found = await uow.notifications.get_many(list({d.notification_id for d in due}))
        by_id = {notification.id: notification for notification in found}
        signing = {by_id[d.notification_id].user_id for d in due if d.channel is Channel.WEBHOOK}
        secret_of = await uow.contacts.signing_secrets(signing) if signing else {}
        await uow.commit()
    for delivery in due:
        delivery.signing_secret = secret_of.get(by_id[delivery.notification_id].user_id, "")
    return [(delivery, by_id[delivery.notification_id]) for delivery in due]


async def _send(
    ctx: Context, delivery: Delivery, notification: Notification
) -> DeliveryFailed | None:
    sender = ctx.senders[delivery.channel]
    try:
        await asyncio.wait_for(
            sender.send(delivery, notification), timeout=ctx.settings.send_timeout
        )
    except DeliveryFailed as failure:
        return failure
    except TimeoutError:
        return DeliveryFailed(f"no answer within {ctx.settings.send_timeout:g}s")
    except Exception as exc:
        log.exception("sending delivery %s failed unexpectedly", delivery.id)
        return DeliveryFailed("could not be sent", detail=f"unexpected error: {exc!r}")
    return None


async def _record(ctx: Context, outcomes: list[tuple[Delivery, DeliveryFailed | None]]) -> None:
    now = ctx.clock()
    for delivery, failure in outcomes:
        if failure is None:
            delivery.succeeded(now)
        else:
            delivery.failed(failure, now, ctx.settings.retry)
    uow = ctx.unit_of_work()
    async with uow:
        recorded = await uow.deliveries.record([delivery for delivery, _ in outcomes])
        await uow.commit()
    for delivery, failure in outcomes:
        # Not recorded: another claim took it after this one's lease ran out, and records.
        if delivery.id not in recorded:
            continue
        outcome = delivery.status.value
        if failure is not None:
            log.warning(
                "delivery %s by %s failed (try %d): %s; %s",
                delivery.id,
                delivery.channel.value,
                delivery.attempts,
                # The detail stays in the log, but a mail server's refusal often quotes
                # the mailbox it refused, and a webhook's error its URL.
                failure.detail.replace(delivery.address, masked(delivery.address)),
                outcome,
            )
        DELIVERIES.labels(delivery.channel.value, outcome).inc()
