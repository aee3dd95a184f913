"""Booking's aggregates in and out of PostgreSQL, converted at this edge.

Each aggregate is one row, saved whole by upsert, so saving twice writes the same row.
Loading `for_update` takes the row's lock, which serialises everything that changes it.
Loading never fills `events`: they are the facts of one unit of work, written to the
outbox in its commit, not state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, cast, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from purchasing.quota import OpenCheckouts
from purchasing.tables import CheckoutPages, payment_progress_of, payment_progress_row
from runtime import sql
from runtime.money import Money
from runtime.rows import ROW_KEY, Rows, by_key, upsert
from runtime.sql import Session
from services.booking.adapters.tables import (
    OPEN_BY_PATIENT,
    OPEN_CHECKOUT_STATUSES,
    availabilities,
    checkouts,
    doctors,
    reservations,
    slots,
)
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.checkout import Checkout, RefundReason
from services.booking.domain.doctor import Doctor
from services.booking.domain.reservation import Cancellation, Reservation, ReservationStatus
from services.booking.domain.schedule import (
    AvailabilityWindow,
    StoredAvailability,
    Weekday,
    WeeklyAvailability,
)
from services.booking.domain.slot import Hold, Slot, SlotStatus

_MINUTES_A_DAY = 24 * 60


def _by_start(query: Select, table: Table, after: tuple[datetime, str] | None) -> Select:
    """Pages in (starts_at, id) order; `after` is the (starts_at, id) of the last seen."""
    if after is not None:
        starts_at, last_id = after
        query = query.where(
            or_(
                table.c.starts_at > starts_at,
                and_(table.c.starts_at == starts_at, table.c.id > last_id),
            )
        )
    return query.order_by(table.c.starts_at, table.c.id)


def _starting_within(
    table: Table, starts_after: datetime | None, starts_before: datetime | None
) -> list[ColumnElement[bool]]:
    """Starting at or after `starts_after` and before `starts_before`; None is no bound."""
    bounds = []
    if starts_after is not None:
        bounds.append(table.c.starts_at >= starts_after)
    if starts_before is not None:
        bounds.append(table.c.starts_at < starts_before)
    return bounds


def _doctor_row(doctor: Doctor) -> dict:
    return {
        "id": doctor.id,
        "display_name": doctor.display_name,
        "specialty": doctor.specialty,
        "time_zone": doctor.time_zone,
        "fee_minor": doctor.appointment_fee.amount_minor,
        "currency": doctor.appointment_fee.currency,
        "active": doctor.active,
        "updated_at": doctor.updated_at,
    }


def _doctor(row) -> Doctor:
    return Doctor(
        id=row["id"],
        display_name=row["display_name"],
        specialty=row["specialty"],
        time_zone=row["time_zone"],
        appointment_fee=Money(row["fee_minor"], row["currency"]),
        updated_at=row["updated_at"],
        active=row["active"],
    )


class Doctors(Rows[Doctor]):
    table = doctors
    _load = staticmethod(_doctor)
    _dump = staticmethod(_doctor_row)

    async def page(
        self, *, specialty: str | None, include_inactive: bool, after: str | None, limit: int
    ) -> list[Doctor]:
        """By id; `after` is the id of the last one seen. No specialty (None) is all; a
        blank one is a specialty no doctor has."""
        query = select(doctors)
        if specialty is not None:
            query = query.where(doctors.c.specialty == specialty)
        if not include_inactive:
            query = query.where(doctors.c.active)
        if after is not None:
            query = query.where(doctors.c.id > after)
        rows = await self.session.execute(query.order_by(doctors.c.id).limit(limit))
        return [_doctor(row) for row in rows.mappings()]


class Availabilities:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def get(self, doctor_id: str) -> StoredAvailability | None:
        found = await self.session.execute(by_key(availabilities), {ROW_KEY: doctor_id})
        row = found.mappings().first()
        if row is None:
            return None
        return StoredAvailability(
            doctor_id=row["doctor_id"],
            availability=WeeklyAvailability(
                windows=tuple(_window(window) for window in row["windows"]),
                slot_length=timedelta(seconds=row["slot_length_seconds"]),
            ),
            first_date=row["first_date"],
            last_date=row["last_date"],
        )

    async def save(
        self,
        doctor_id: str,
        availability: WeeklyAvailability,
        first_date: date,
        last_date: date,
        at: datetime,
    ) -> None:
        row = {
            "doctor_id": doctor_id,
            "windows": [_window_row(window) for window in availability.windows],
            # Whole minutes (the domain insists), so whole seconds lose nothing.
            "slot_length_seconds": int(availability.slot_length.total_seconds()),
            "first_date": first_date,
            "last_date": last_date,
            "updated_at": at,
        }
        await self.session.execute(upsert(availabilities, row), row)


def _minute_of_day(value: time) -> int:
    return value.hour * 60 + value.minute


def _window_row(window: AvailabilityWindow) -> dict:
    return {
        "day_of_week": window.day.value,
        "start_minute": _minute_of_day(window.start),
        # END_OF_DAY is time(0): stored as 1440 so every stored window ends after it starts.
        "end_minute": _minute_of_day(window.end) or _MINUTES_A_DAY,
    }


def _window(row: dict) -> AvailabilityWindow:
    def at(minute: int) -> time:
        return time(*divmod(minute % _MINUTES_A_DAY, 60))

    return AvailabilityWindow(
        Weekday(row["day_of_week"]), at(row["start_minute"]), at(row["end_minute"])
    )


def _slot_row(slot: Slot) -> dict:
    hold = slot.hold
    return {
        "id": slot.id,
        "doctor_id": slot.doctor_id,
        "starts_at": slot.starts_at,
        "ends_at": slot.ends_at,
        "hold_checkout_id": hold.checkout_id if hold else None,
        "hold_patient_id": hold.patient_id if hold else None,
        "hold_expires_at": hold.expires_at if hold else None,
        "reservation_id": slot.reservation_id,
        "withdrawn": slot.withdrawn,
    }


def _slot(row) -> Slot:
    return Slot(
        id=row["id"],
        doctor_id=row["doctor_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        hold=(
            Hold(row["hold_checkout_id"], row["hold_patient_id"], row["hold_expires_at"])
            if row["hold_checkout_id"] is not None
            else None
        ),
        reservation_id=row["reservation_id"],
        withdrawn=row["withdrawn"],
    )


def _slot_status_is(status: SlotStatus, now: datetime) -> ColumnElement[bool]:
    """Slot.status in SQL: booked beats held, and a hold counts only until it expires."""
    booked = slots.c.reservation_id.is_not(None)
    held = slots.c.hold_expires_at > now
    if status is SlotStatus.BOOKED:
        return booked
    if status is SlotStatus.HELD:
        return and_(~booked, held)
    # NULL > now is NULL, not false: a slot never held needs saying so.
    return and_(~booked, or_(slots.c.hold_expires_at.is_(None), ~held))


def _parts(row, tables: Sequence[tuple[str, ...]]) -> list[dict]:
    """A row that selected several tables' columns (in the order of `tables`, each given
    by its column names), as one dict per table, by the columns' own names.
    By position: a lookup by label per column was about 4% of booking's CPU."""
    values = tuple(row)
    parts = []
    start = 0
    for names in tables:
        parts.append(dict(zip(names, values[start : start + len(names)], strict=True)))
        start += len(names)
    return parts


_IN_HAND = (slots, checkouts, doctors)
_IN_HAND_NAMES = tuple(tuple(column.name for column in table.columns) for table in _IN_HAND)
# A paid (failed, lapsed) checkout's whole working set in one round trip. The rows are
# locked in the order FOR UPDATE OF names them, the slot first, then the checkout, as
# every handler takes them; the doctor is only read (outer joined: a checkout's doctor id
# has no foreign key, and a missing doctor is the handler's error to name).
_CHECKOUT_IN_HAND = (
    select(*_IN_HAND)
    .select_from(
        checkouts.join(slots, slots.c.id == checkouts.c.slot_id).outerjoin(
            doctors, doctors.c.id == checkouts.c.doctor_id
        )
    )
    .where(checkouts.c.id == bindparam(ROW_KEY))
    .with_for_update(of=[slots, checkouts])
)


class Slots(Rows[Slot]):
    table = slots
    _load = staticmethod(_slot)
    _dump = staticmethod(_slot_row)
    # The unit's other repositories, which remember the rows `with_checkout` reads.
    checkouts: Checkouts
    doctors: Doctors

    async def between(
        self,
        doctor_id: str,
        starts_from: datetime,
        starts_before: datetime,
        *,
        for_update: bool = False,
    ) -> list[Slot]:
        """All the doctor's slots starting in [starts_from, starts_before), withdrawn ones
        too, by start."""
        query = (
            select(slots)
            .where(
                slots.c.doctor_id == doctor_id,
                *_starting_within(slots, starts_from, starts_before),
            )
            .order_by(slots.c.starts_at)
        )
        if for_update:
            query = query.with_for_update()
        return [_slot(row) for row in (await self.session.execute(query)).mappings()]

    async def with_checkout(self, checkout_id: str) -> tuple[Slot, Checkout, Doctor | None] | None:
        """The slot a checkout is for and the checkout, both locked, with their doctor
        (None if the directory lost it), in one round trip; None if no such checkout was
        ever stored. Each is remembered by its own repository, so saving writes only
        what changed."""
        row = await sql.fetch_one(self.session, _CHECKOUT_IN_HAND, {ROW_KEY: checkout_id})
        if row is None:
            return None
        slot_row, checkout_row, doctor_row = _parts(row, _IN_HAND_NAMES)
        slot = self._seen(slot_row)
        checkout = self.checkouts._seen(checkout_row)
        doctor = None if doctor_row["id"] is None else self.doctors._seen(doctor_row)
        return slot, checkout, doctor

    async def save_all(self, batch: Sequence[Slot]) -> None:
        """Upserts many slots in one statement, whatever their number.

        Each column goes as one array, unnested into rows by the database: one bound
        parameter per value would hit PostgreSQL's limit of 32767 at a few thousand slots.
        """
        if not batch:
            return
        rows = [_slot_row(slot) for slot in batch]
        names = list(rows[0])
        arrays = [
            cast(
                bindparam(f"{name}_values", [row[name] for row in rows]),
                ARRAY(slots.c[name].type),
            )
            for name in names
        ]
        unnested = func.unnest(*arrays).table_valued(*names).render_derived(name="batch")
        statement = pg_insert(slots).from_select(names, select(unnested))
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[slots.c.id],
                set_={name: statement.excluded[name] for name in names if name != "id"},
            )
        )

    async def page(
        self,
        *,
        doctor_id: str,
        starts_after: datetime | None,
        starts_before: datetime | None,
        status: SlotStatus | None,
        now: datetime,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Slot]:
        """The doctor's slots on sale, in (starts_at, id) order, of `status` at `now` when
        given; `after` is the (starts_at, id) of the last one seen."""
        query = select(slots).where(
            slots.c.doctor_id == doctor_id,
            ~slots.c.withdrawn,
            *_starting_within(slots, starts_after, starts_before),
        )
        if status is not None:
            query = query.where(_slot_status_is(status, now))
        rows = await self.session.execute(_by_start(query, slots, after).limit(limit))
        return [_slot(row) for row in rows.mappings()]


def _purchase_row(purchase: Checkout | Reservation) -> dict:
    """The columns a checkout and its reservation share: who buys which slot, at what price."""
    return {
        "id": purchase.id,
        "slot_id": purchase.slot_id,
        "doctor_id": purchase.doctor_id,
        "patient_id": purchase.patient_id,
        "price_minor": purchase.price.amount_minor,
        "currency": purchase.price.currency,
    }


def _purchase(row) -> dict:
    return {
        "id": row["id"],
        "slot_id": row["slot_id"],
        "doctor_id": row["doctor_id"],
        "patient_id": row["patient_id"],
        "price": Money(row["price_minor"], row["currency"]),
    }


def _checkout_row(checkout: Checkout) -> dict:
    return {
        **_purchase_row(checkout),
        **payment_progress_row(checkout),
        "reservation_id": checkout.reservation_id,
        "refund_reason": checkout.refund_reason.value if checkout.refund_reason else None,
        "rescheduled_reservation_id": checkout.rescheduled_reservation_id,
        "hold_expires_at": checkout.expires_at,
    }


def _checkout(row) -> Checkout:
    return Checkout(
        **_purchase(row),
        **payment_progress_of(row),
        expires_at=row["hold_expires_at"],
        reservation_id=row["reservation_id"],
        refund_reason=RefundReason(row["refund_reason"]) if row["refund_reason"] else None,
        rescheduled_reservation_id=row["rescheduled_reservation_id"],
    )


class Checkouts(CheckoutPages, Rows[Checkout]):
    table = checkouts
    _load = staticmethod(_checkout)
    _dump = staticmethod(_checkout_row)

    async def open_past_hold(self, now: datetime, limit: int) -> list[str]:
        """Ids of open checkouts whose hold has lapsed by `now`, the longest lapsed first."""
        rows = await self.session.execute(
            select(checkouts.c.id)
            .where(
                # The partial index's own predicate, so the planner can use it.
                checkouts.c.status.in_(OPEN_CHECKOUT_STATUSES),
                checkouts.c.hold_expires_at <= now,
            )
            .order_by(checkouts.c.hold_expires_at)
            .limit(limit)
        )
        return list(rows.scalars())

    async def open_of(self, patient_id: str, now: datetime) -> OpenCheckouts:
        """The patient's checkouts holding slots; counting locks the patient's new ones out
        until this transaction ends."""
        return await OPEN_BY_PATIENT.count(self.session, patient_id, now)


def _reservation_row(reservation: Reservation) -> dict:
    cancellation = reservation.cancellation
    return {
        **_purchase_row(reservation),
        "starts_at": reservation.starts_at,
        "ends_at": reservation.ends_at,
        "checkout_id": reservation.checkout_id,
        "payment_id": reservation.payment_id,
        "confirmed_at": reservation.confirmed_at,
        "status": reservation.status.value,
        "cancelled_by": cancellation.cancelled_by.value if cancellation else None,
        "cancel_reason": cancellation.reason if cancellation else None,
        # A refund is in the price's currency: the column is shared.
        "refund_minor": cancellation.refund.amount_minor if cancellation else None,
        "cancelled_at": cancellation.cancelled_at if cancellation else None,
        "rescheduled_from_reservation_id": reservation.rescheduled_from_reservation_id,
    }


def _reservation(row) -> Reservation:
    return Reservation(
        **_purchase(row),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        checkout_id=row["checkout_id"],
        payment_id=row["payment_id"],
        confirmed_at=row["confirmed_at"],
        status=ReservationStatus(row["status"]),
        cancellation=(
            Cancellation(
                CancelledBy(row["cancelled_by"]),
                row["cancel_reason"],
                Money(row["refund_minor"], row["currency"]),
                row["cancelled_at"],
            )
            if row["cancelled_by"] is not None
            else None
        ),
        rescheduled_from_reservation_id=row["rescheduled_from_reservation_id"],
    )


class Reservations(Rows[Reservation]):
    table = reservations
    _load = staticmethod(_reservation)
    _dump = staticmethod(_reservation_row)

    async def page(
        self,
        *,
        patient_id: str | None,
        doctor_id: str | None,
        status: ReservationStatus | None,
        starts_after: datetime | None,
        starts_before: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Reservation]:
        """In (starts_at, id) order; `after` is the (starts_at, id) of the last seen."""
        query = select(reservations).where(
            *_starting_within(reservations, starts_after, starts_before)
        )
        if patient_id is not None:
            query = query.where(reservations.c.patient_id == patient_id)
        if doctor_id is not None:
            query = query.where(reservations.c.doctor_id == doctor_id)
        if status is not None:
            query = query.where(reservations.c.status == status.value)
        rows = await self.session.execute(_by_start(query, reservations, after).limit(limit))
        return [_reservation(row) for row in rows.mappings()]
