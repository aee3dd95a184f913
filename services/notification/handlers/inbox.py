"""A user's inbox: its pages, marking read, and the live feed that replays what came after
a cursor and then follows new notifications as they commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.notification.domain.errors import NotificationNotFound
from services.notification.domain.notification import Notification
from services.notification.handlers.context import Context
from services.notification.handlers.unit_of_work import NotificationUnit


@dataclass(frozen=True)
class MarkRead:
    user_id: str
    notification_ids: tuple[str, ...]
    # Also every notification with a sequence up to this one; 0 is none.
    up_to_sequence: int = 0


async def page(
    ctx: Context,
    uow: NotificationUnit,
    user_id: str,
    *,
    unread_only: bool,
    before: int | None,
    limit: int,
) -> list[Notification]:
    async with uow:
        return await uow.notifications.page(
            user_id, unread_only=unread_only, before=before, limit=limit
        )


async def mark_read(ctx: Context, uow: NotificationUnit, cmd: MarkRead) -> int:
    """How many of the chosen notifications were unread. Naming one that is not the
    user's marks nothing."""
    async with uow:
        owned = await uow.notifications.owned(cmd.user_id, cmd.notification_ids)
        for notification_id in cmd.notification_ids:
            if notification_id not in owned:
                raise NotificationNotFound(notification_id)
        marked = await uow.notifications.mark_read(
            cmd.user_id, cmd.notification_ids, cmd.up_to_sequence, ctx.clock()
        )
        await uow.commit()
        return marked


async def follow(ctx: Context, user_id: str, after_sequence: int) -> AsyncIterator[Notification]:
    """Every notification of the user after `after_sequence`, in order, then each new one
    as it commits; until the caller stops reading."""
    cursor = after_sequence
    async with ctx.feed.watch(user_id) as changed:
        while True:
            uow = ctx.unit_of_work()
            async with uow:
                found = await uow.notifications.after(user_id, cursor, ctx.settings.stream_batch)
            for notification in found:
                yield notification
                cursor = notification.sequence
            if len(found) < ctx.settings.stream_batch:
                await changed()
