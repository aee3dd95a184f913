"""Booking's unit of work: one transaction, with booking's repositories on it."""

from __future__ import annotations

from runtime.db import UnitOfWork
from runtime.purge import RUNTIME
from runtime.sql import Session
from services.booking.adapters.messages import event_message
from services.booking.adapters.repository import (
    Availabilities,
    Checkouts,
    Doctors,
    Reservations,
    Slots,
)
from services.booking.adapters.tables import EXPIRED_CHECKOUTS


class BookingUnitOfWork(UnitOfWork):
    purges = (*RUNTIME, EXPIRED_CHECKOUTS)
    event_message = event_message

    def repositories(self, session: Session) -> None:
        self.doctors = Doctors(session)
        self.availabilities = Availabilities(session)
        self.slots = Slots(session)
        self.checkouts = Checkouts(session)
        self.reservations = Reservations(session)
        self.slots.checkouts = self.checkouts
        self.slots.doctors = self.doctors
