"""The repositories of one unit of work, and writing what entities recorded to the outbox."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db import UnitOfWork, emit_recorded
from services.booking.adapters.messages import event_message
from services.booking.adapters.repository import (
    Availabilities,
    Checkouts,
    Doctors,
    Reservations,
    Slots,
)

_NOBAT_BOOKING = uuid.uuid5(uuid.NAMESPACE_URL, "urn:nobat:booking")


def derived_id(*parts: object) -> str:
    """A stable id from what makes a thing unique: a retried request, or a redelivered
    event, makes the same checkout or reservation rather than a second one."""
    return str(uuid.uuid5(_NOBAT_BOOKING, "/".join(map(str, parts))))


class Stores:
    def __init__(self, session: AsyncSession) -> None:
        self.doctors = Doctors(session)
        self.availabilities = Availabilities(session)
        self.slots = Slots(session)
        self.checkouts = Checkouts(session)
        self.reservations = Reservations(session)


def publish(uow: UnitOfWork, *entities: object, correlation_id: str | None = None) -> None:
    """Queues the events the entities recorded for the outbox of this unit's commit."""
    emit_recorded(uow, event_message, *entities, correlation_id=correlation_id)
