"""The notification rules a caller can break, each named for the rule."""

from __future__ import annotations

from runtime.errors import NotFound


class ContactNotFound(NotFound):
    """No contact registered, or another user's: the two look the same from outside."""

    def __init__(self, user_id: str) -> None:
        super().__init__(f"no contact for user {user_id}", user_id=user_id)


class NotificationNotFound(NotFound):
    """Does not exist or is in another user's inbox."""

    def __init__(self, notification_id: str) -> None:
        super().__init__(f"no notification {notification_id}", notification_id=notification_id)
