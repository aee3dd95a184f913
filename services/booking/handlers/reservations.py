"""Reservations: reading them, cancelling them (the refund follows the notice policy for
a patient, in full for a doctor or an admin, and goes through payment as a
RefundRequested event), and moving them to another slot."""

from __future__ import annotations

from dataclasses import dataclass

from purchasing.checkout import PaymentMethod
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.checkout import Checkout
from services.booking.domain.errors import ReservationNotFound
from services.booking.domain.reservation import Reservation
from services.booking.handlers import checkouts
from services.booking.handlers.context import Context
from services.booking.handlers.unit_of_work import BookingUnit


@dataclass(frozen=True)
class Viewer:
    """Whose reservations the caller may see: a patient's own, a doctor's own, or all."""

    patient_id: str | None = None
    doctor_id: str | None = None

    def may_see(self, reservation: Reservation) -> bool:
        return (self.patient_id is None or reservation.patient_id == self.patient_id) and (
            self.doctor_id is None or reservation.doctor_id == self.doctor_id
        )

    def listing(self, patient_id: str = "", doctor_id: str = "") -> tuple[str | None, str | None]:
        """The patient and the doctor a list is narrowed to (None: any). The viewer's own
        wherever the viewer has one, blank or not, so no subject ever reads as "everyone";
        elsewhere the one asked for, where unset ("") means any."""
        return (
            self.patient_id if self.patient_id is not None else patient_id or None,
            self.doctor_id if self.doctor_id is not None else doctor_id or None,
        )


@dataclass(frozen=True)
class CancelReservation:
    reservation_id: str
    by: CancelledBy
    reason: str
    # Whose reservations the caller may cancel.
    viewer: Viewer = Viewer()


@dataclass(frozen=True)
class RescheduleReservation:
    patient_id: str
    key: str
    reservation_id: str
    new_slot_id: str
    method: PaymentMethod
    return_url: str = ""


async def load_reservation(
    uow: BookingUnit, reservation_id: str, viewer: Viewer, *, lock: bool = False
) -> Reservation:
    reservation = await uow.reservations.get(reservation_id, for_update=lock)
    if reservation is None or not viewer.may_see(reservation):
        raise ReservationNotFound(reservation_id)
    return reservation


async def cancel_reservation(ctx: Context, uow: BookingUnit, cmd: CancelReservation) -> Reservation:
    async with uow:
        found = await load_reservation(uow, cmd.reservation_id, cmd.viewer)
        slot = await uow.slots.get(found.slot_id, for_update=True)
        reservation = await load_reservation(uow, cmd.reservation_id, cmd.viewer, lock=True)
        assert slot is not None
        reservation.cancel(
            by=cmd.by,
            reason=cmd.reason,
            slot=slot,
            now=ctx.clock(),
            policy=ctx.settings.notice_policy,
        )
        await uow.slots.save(slot)
        await uow.reservations.save(reservation)
        uow.publish(reservation, correlation_id=reservation.checkout_id)
        await uow.commit()
        return reservation


async def reschedule_reservation(
    ctx: Context, uow: BookingUnit, cmd: RescheduleReservation
) -> Checkout:
    """Books the new slot first; the old reservation is cancelled only once the new one is
    paid and confirmed, so a patient never ends up with neither."""
    async with uow:
        await load_reservation(uow, cmd.reservation_id, Viewer(patient_id=cmd.patient_id))
        checkout = await checkouts.start_checkout(
            ctx,
            uow,
            checkouts.StartCheckout(
                patient_id=cmd.patient_id,
                key=cmd.key,
                slot_id=cmd.new_slot_id,
                method=cmd.method,
                return_url=cmd.return_url,
                rescheduling=cmd.reservation_id,
            ),
        )
        # start's own commit joins this unit; only this one ends it.
        await uow.commit()
        return checkout
