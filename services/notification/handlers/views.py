"""What notification shows: a user's contact, their inbox page by page, and the live feed
that replays what came after a cursor and then follows new notifications as they commit."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.notification.domain.contact import Contact
from services.notification.domain.errors import ContactNotFound
from services.notification.domain.notification import Notification
from services.notification.handlers.context import Context
from services.notification.handlers.unit_of_work import NotificationUnit


async def contact(uow: NotificationUnit, user_id: str) -> Contact:
    async with uow:
        found = await uow.contacts.get(user_id)
    if found is None:
        raise ContactNotFound(user_id)
    return found


async def inbox(
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
