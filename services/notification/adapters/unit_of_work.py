"""Notification's unit of work: one transaction, with notification's repositories on it.
Notification states no facts of its own, so it names no event_message."""

from __future__ import annotations

from runtime.db import UnitOfWork
from runtime.sql import Session
from services.notification.adapters.repository import (
    Contacts,
    Deliveries,
    Doctors,
    Notifications,
)
from services.notification.handlers.unit_of_work import AfterCommit


class NotificationUnitOfWork(AfterCommit, UnitOfWork):
    def repositories(self, session: Session) -> None:
        self.contacts = Contacts(session)
        self.doctors = Doctors(session)
        self.notifications = Notifications(session)
        self.deliveries = Deliveries(session)
