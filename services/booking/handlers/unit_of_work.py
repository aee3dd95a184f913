"""What booking's handlers see of a transaction: booking's repositories and its outbox,
whether the database keeps them (adapters/unit_of_work.py) or a unit test's memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from runtime import ids
from runtime.unit import Unit

if TYPE_CHECKING:
    from services.booking.adapters.repository import (
        Availabilities,
        Checkouts,
        Doctors,
        Reservations,
        Slots,
    )

BOOKING_IDS = ids.namespace("booking")


class BookingUnit(Unit, Protocol):
    doctors: Doctors
    availabilities: Availabilities
    slots: Slots
    checkouts: Checkouts
    reservations: Reservations


def derived_id(*parts: object) -> str:
    """A stable id from what makes a thing unique: a retried request, or a redelivered
    event, makes the same checkout or reservation rather than a second one."""
    return ids.derived_id(BOOKING_IDS, *parts)
