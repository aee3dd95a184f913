"""What booking shows: the read side of its List RPCs, each a page of one list, for a
caller the servicer has already checked may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from purchasing.handlers import load_checkout
from runtime.wire import PageRequest
from services.booking.domain.checkout import Checkout
from services.booking.domain.doctor import Doctor
from services.booking.domain.reservation import Reservation, ReservationStatus
from services.booking.domain.schedule import StoredAvailability
from services.booking.domain.slot import Slot, SlotStatus
from services.booking.handlers.doctors import DoctorNotFound, load_doctor
from services.booking.handlers.reservations import Viewer, load_reservation
from services.booking.handlers.unit_of_work import BookingUnit


async def doctor(uow: BookingUnit, doctor_id: str) -> Doctor:
    async with uow:
        return await load_doctor(uow, doctor_id)


async def checkout(uow: BookingUnit, checkout_id: str, viewer: str | None) -> Checkout:
    """The checkout, if it is patient `viewer`'s (any for None: an admin)."""
    async with uow:
        return await load_checkout(uow.checkouts, checkout_id, viewer)


async def reservation(uow: BookingUnit, reservation_id: str, viewer: Viewer) -> Reservation:
    async with uow:
        return await load_reservation(uow, reservation_id, viewer)


async def weekly_availability(uow: BookingUnit, doctor_id: str) -> StoredAvailability:
    async with uow:
        stored = await uow.availabilities.get(doctor_id)
    if stored is None:
        raise DoctorNotFound(doctor_id)
    return stored


@dataclass(frozen=True)
class DoctorsQuery:
    specialty: str | None
    include_inactive: bool


async def doctors(
    uow: BookingUnit, query: DoctorsQuery, asked: PageRequest
) -> tuple[list[Doctor], str]:
    """In id order."""
    async with uow:
        found = await uow.doctors.page(**vars(query), after=asked.after_key, limit=asked.limit)
    return asked.cut(found, lambda doctor: (doctor.id,))


@dataclass(frozen=True)
class SlotsQuery:
    doctor_id: str
    starts_after: datetime
    starts_before: datetime | None
    status: SlotStatus | None
    # What "held" means depends on it: a hold past its end holds nothing.
    now: datetime


async def slots(
    uow: BookingUnit, query: SlotsQuery, asked: PageRequest
) -> tuple[Doctor, list[Slot], str]:
    """A doctor's slots in time order, and the doctor (whose fee each slot shows)."""
    async with uow:
        doctor = await load_doctor(uow, query.doctor_id)
        found = await uow.slots.page(
            doctor_id=doctor.id,
            starts_after=query.starts_after,
            starts_before=query.starts_before,
            status=query.status,
            now=query.now,
            after=asked.after,
            limit=asked.limit,
        )
    page, token = asked.cut(found, lambda slot: (slot.starts_at, slot.id))
    return doctor, page, token


@dataclass(frozen=True)
class ReservationsQuery:
    patient_id: str | None
    doctor_id: str | None
    status: ReservationStatus | None
    starts_after: datetime | None
    starts_before: datetime | None


async def reservations(
    uow: BookingUnit, query: ReservationsQuery, asked: PageRequest
) -> tuple[list[Reservation], str]:
    """In time order."""
    async with uow:
        found = await uow.reservations.page(**vars(query), after=asked.after, limit=asked.limit)
    return asked.cut(found, lambda reservation: (reservation.starts_at, reservation.id))
