"""Notification on one screen: what its callers ask for, what it hears from the other
contexts, and what it does on its own. The servicer, the consumers and bootstrap read
these tables."""

from __future__ import annotations

from runtime.handling import Handler
from services.notification.handlers.contacts import RegisterContact, register_contact
from services.notification.handlers.deliveries import deliver_due
from services.notification.handlers.facts import DoctorUpdated, Notify, doctor_updated, notify
from services.notification.handlers.inbox import MarkRead, mark_read

COMMANDS: dict[type, Handler] = {
    RegisterContact: register_contact,
    MarkRead: mark_read,
    # The consumers' reading of the other contexts' events (entrypoints/events.py).
    Notify: notify,
}

EVENTS: dict[type, Handler] = {
    DoctorUpdated: doctor_updated,
}

JOBS = {
    "deliver-notifications": deliver_due,
}
