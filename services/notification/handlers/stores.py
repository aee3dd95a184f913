"""The repositories of one unit of work."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.notification.adapters.repository import (
    Contacts,
    Deliveries,
    Doctors,
    Feeds,
    Notifications,
)


class Stores:
    def __init__(self, session: AsyncSession) -> None:
        self.contacts = Contacts(session)
        self.doctors = Doctors(session)
        self.feeds = Feeds(session)
        self.notifications = Notifications(session)
        self.deliveries = Deliveries(session)
