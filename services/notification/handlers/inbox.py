"""A user's inbox: marking read (its pages and live feed are views)."""

from __future__ import annotations

from dataclasses import dataclass

from services.notification.domain.errors import NotificationNotFound
from services.notification.handlers.context import Context
from services.notification.handlers.unit_of_work import NotificationUnit


@dataclass(frozen=True)
class MarkRead:
    user_id: str
    notification_ids: tuple[str, ...]
    # Also every notification with a sequence up to this one; 0 is none.
    up_to_sequence: int = 0


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
