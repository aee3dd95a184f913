"""The doctors' directory and their weekly availability, kept by admins.

Setting availability regenerates the doctor's slots over a range of local dates: slots
the new pattern wants are created, free ones it no longer wants are withdrawn, and held
or booked ones stay whatever the pattern says, since a patient holds or paid for them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from runtime import errors
from runtime.instants import local_today
from runtime.money import Money
from services.booking.domain.doctor import Doctor
from services.booking.domain.schedule import (
    StoredAvailability,
    WeeklyAvailability,
    local_days_span,
    replan,
    slot_times,
)
from services.booking.domain.slot import Slot
from services.booking.handlers.context import Context
from services.booking.handlers.unit_of_work import BOOKING_IDS, BookingUnit

# How far ahead slots are generated when the admin gives no last date.
DEFAULT_HORIZON_DAYS = 28


class DoctorNotFound(errors.NotFound):
    def __init__(self, doctor_id: str) -> None:
        super().__init__(f"no doctor {doctor_id}", doctor_id=doctor_id)


class DoctorAlreadyExists(errors.AlreadyExists):
    def __init__(self, doctor_id: str) -> None:
        super().__init__(f"doctor {doctor_id} already exists", doctor_id=doctor_id)


@dataclass(frozen=True)
class CreateDoctor:
    doctor_id: str
    display_name: str
    specialty: str
    time_zone: str
    appointment_fee: Money


@dataclass(frozen=True)
class UpdateDoctor:
    doctor_id: str
    display_name: str | None = None
    specialty: str | None = None
    time_zone: str | None = None
    appointment_fee: Money | None = None
    active: bool | None = None


@dataclass(frozen=True)
class SetWeeklyAvailability:
    doctor_id: str
    availability: WeeklyAvailability
    first_date: date | None
    last_date: date | None


@dataclass(frozen=True)
class ScheduleChange:
    stored: StoredAvailability
    created: int
    removed: int


async def load_doctor(uow: BookingUnit, doctor_id: str, *, lock: bool = False) -> Doctor:
    doctor = await uow.doctors.get(doctor_id, for_update=lock)
    if doctor is None:
        raise DoctorNotFound(doctor_id)
    return doctor


async def create_doctor(ctx: Context, uow: BookingUnit, cmd: CreateDoctor) -> Doctor:
    async with uow:
        if await uow.doctors.get(cmd.doctor_id) is not None:
            raise DoctorAlreadyExists(cmd.doctor_id)
        doctor = Doctor.create(
            doctor_id=cmd.doctor_id,
            display_name=cmd.display_name,
            specialty=cmd.specialty,
            time_zone=cmd.time_zone,
            appointment_fee=cmd.appointment_fee,
            now=ctx.clock(),
        )
        await uow.doctors.save(doctor)
        uow.publish(doctor, correlation_id=doctor.id)
        await uow.commit()
        return doctor


async def update_doctor(ctx: Context, uow: BookingUnit, cmd: UpdateDoctor) -> Doctor:
    async with uow:
        doctor = await load_doctor(uow, cmd.doctor_id, lock=True)
        if doctor.update(
            now=ctx.clock(),
            display_name=cmd.display_name,
            specialty=cmd.specialty,
            time_zone=cmd.time_zone,
            appointment_fee=cmd.appointment_fee,
            active=cmd.active,
        ):
            await uow.doctors.save(doctor)
            uow.publish(doctor, correlation_id=doctor.id)
        await uow.commit()
        return doctor


async def set_weekly_availability(
    ctx: Context, uow: BookingUnit, cmd: SetWeeklyAvailability
) -> ScheduleChange:
    async with uow:
        # The doctor's row lock serialises two admins regenerating one schedule.
        doctor = await load_doctor(uow, cmd.doctor_id, lock=True)
        now = ctx.clock()
        first = cmd.first_date or local_today(doctor.zone, now)
        last = cmd.last_date or first + timedelta(days=DEFAULT_HORIZON_DAYS - 1)
        wanted = slot_times(cmd.availability, doctor.zone, first, last)
        start, end = local_days_span(first, last, doctor.zone)
        existing = [
            slot
            for slot in await uow.slots.between(doctor.id, start, end, for_update=True)
            if not slot.withdrawn
        ]
        plan = replan(existing, wanted, now)
        created = [
            Slot(slot_id(doctor.id, time.starts_at), doctor.id, time.starts_at, time.ends_at)
            for time in plan.create
        ]
        await uow.slots.save_all([*plan.withdraw, *created])
        await uow.availabilities.save(doctor.id, cmd.availability, first, last, now)
        await uow.commit()
        stored = StoredAvailability(doctor.id, cmd.availability, first, last)
        return ScheduleChange(stored, len(created), len(plan.withdraw))


def slot_id(doctor_id: str, starts_at: datetime) -> str:
    """A doctor's slot at an instant is one slot, however often the schedule is redone.

    Its name is the plain join "slot/<doctor id>/<start>", not runtime.ids' escaped one:
    the doctor's id is its only free part and the start's text never holds "/", so no two
    slots share a name. And stored slots are derived again (a schedule redone with another
    slot length, a withdrawn slot reopened), where an id that moved would meet the slot
    already at that start and fail: escaping would move the slot ids of every doctor whose
    id holds "/" or "%"."""
    return str(uuid.uuid5(BOOKING_IDS, f"slot/{doctor_id}/{starts_at.isoformat()}"))
