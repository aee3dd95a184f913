"""What notification's handlers see of a transaction: its repositories, whether the
database keeps them (adapters/unit_of_work.py) or a unit test's memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from runtime.unit import Unit

if TYPE_CHECKING:
    from services.notification.adapters.repository import (
        Contacts,
        Deliveries,
        Doctors,
        Notifications,
    )


class NotificationUnit(Unit, Protocol):
    contacts: Contacts
    doctors: Doctors
    notifications: Notifications
    deliveries: Deliveries
