"""What notification's handlers need from outside: channels to send through, and a way to
hear that a user's feed has grown. Adapters implement them; tests fake them."""

from __future__ import annotations

from typing import Protocol

from runtime.streams import Watch
from services.notification.domain.delivery import Delivery
from services.notification.domain.notification import Notification


class Sender(Protocol):
    """One channel's way out: the log sink, SMTP, a signed webhook."""

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        """Returns once the channel accepted it; raises DeliveryFailed when it did not."""


# A user's feed grew: watched by the user's id (runtime.streams).
FeedWatch = Watch
