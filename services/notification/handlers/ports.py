"""What notification's handlers need from outside: channels to send through, and a way to
hear that a user's feed has grown. Adapters implement them; tests fake them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.notification.domain.delivery import Delivery
from services.notification.domain.notification import Notification


class Sender(Protocol):
    """One channel's way out: the log sink, SMTP, a signed webhook."""

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        """Returns once the channel accepted it; raises DeliveryFailed when it did not."""


class FeedWatch(Protocol):
    def watch(self, user_id: str) -> AbstractAsyncContextManager[Callable[[], Awaitable[None]]]:
        """While open, the yielded function waits until the user may have a new
        notification (or a polling interval passes). Open it before reading the feed, so
        that nothing committed in between is missed."""
