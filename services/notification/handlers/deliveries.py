"""The delivery job: claims what is due, sends it through its channel, records the outcome.

Claiming is one short transaction (FOR UPDATE SKIP LOCKED, so replicas share the work)
that counts the try and leases the delivery; the sends run after its commit, side by side,
each within the send timeout, so one slow or dead channel delays nobody else; each outcome
is then recorded in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging

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
    for (delivery, _), failure in zip(claimed, failures, strict=True):
        try:
            await retrying(lambda d=delivery, f=failure: _record(ctx, d, f))
        except Exception:
            # The lease runs out and the delivery is tried again; nothing is lost.
            log.exception("recording delivery %s failed", delivery.id)
    return len(claimed)


async def _claim(ctx: Context) -> list[tuple[Delivery, Notification]]:
    uow = ctx.unit_of_work()
    async with uow:
        now = ctx.clock()
        due = await uow.deliveries.due(now, ctx.settings.batch)
        if not due:
            return []
        for delivery in due:
            delivery.claim(now, ctx.settings.retry)
            await uow.deliveries.save(delivery)
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


async def _record(ctx: Context, claimed: Delivery, failure: DeliveryFailed | None) -> None:
    uow = ctx.unit_of_work()
    async with uow:
        delivery = await uow.deliveries.get(claimed.id, for_update=True)
        # Another claim took it after this one's lease ran out: that one records.
        if delivery is None or not delivery.is_open or delivery.attempts != claimed.attempts:
            return
        now = ctx.clock()
        if failure is None:
            delivery.succeeded(now)
            outcome = "delivered"
        else:
            delivery.failed(failure, now, ctx.settings.retry)
            outcome = delivery.status.value
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
        await uow.deliveries.save(delivery)
        await uow.commit()
    DELIVERIES.labels(delivery.channel.value, outcome).inc()
