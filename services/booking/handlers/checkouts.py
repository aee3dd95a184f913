"""Checkouts: hold a slot, have payment charge for it, and turn what payment says into a
reservation or a refund.

No reservation is written when a checkout starts: only PaymentConfirmed makes one, in
one transaction with its inbox row, under the slot's row lock; a slot the payment can no
longer have is answered with PurchaseRejected, so payment refunds in full. Locks are
always taken slot first, then checkout, then reservation, so handlers never deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clients.payment import OpenedAttempt
from purchasing.checkout import PaymentMethod
from purchasing.commands import ExpireCheckout, RetryCheckout
from purchasing.handlers import (
    attempt_again,
    attempt_opened,
    ensure_was_stored,
    load_checkout,
    payment_order,
    refund_unknown_checkout,
)
from purchasing.news import PaymentConfirmed, PaymentExpired, PaymentFailed, PurchaseVoided
from purchasing.quota import ensure_may_open_another
from runtime import errors
from runtime.jobs import sweep
from services.booking import metrics
from services.booking.domain.checkout import Checkout, hold_slot
from services.booking.domain.doctor import Doctor
from services.booking.domain.errors import ReservationNotFound
from services.booking.domain.slot import Slot
from services.booking.handlers.context import Context
from services.booking.handlers.doctors import DoctorNotFound, load_doctor
from services.booking.handlers.unit_of_work import BookingUnit, derived_id


class SlotNotFound(errors.NotFound):
    def __init__(self, slot_id: str) -> None:
        super().__init__(f"no slot {slot_id}", slot_id=slot_id)


@dataclass(frozen=True)
class StartCheckout:
    patient_id: str
    # The caller's idempotency key: the same key is the same checkout.
    key: str
    slot_id: str
    method: PaymentMethod
    return_url: str = ""
    # Set by RescheduleReservation: the reservation this checkout replaces once paid.
    rescheduling: str | None = None


async def _slot(uow: BookingUnit, slot_id: str) -> Slot:
    slot = await uow.slots.get(slot_id, for_update=True)
    if slot is None or slot.withdrawn:
        raise SlotNotFound(slot_id)
    return slot


async def start_checkout(ctx: Context, uow: BookingUnit, cmd: StartCheckout) -> Checkout:
    async with uow:
        slot = await _slot(uow, cmd.slot_id)
        doctor = await load_doctor(uow, slot.doctor_id)
        held_by = None
        if slot.hold is not None:
            held_by = await uow.checkouts.get(slot.hold.checkout_id, for_update=True)
        rescheduling = None
        if cmd.rescheduling is not None:
            rescheduling = await uow.reservations.get(cmd.rescheduling, for_update=True)
            if rescheduling is None:
                raise ReservationNotFound(cmd.rescheduling)
        now = ctx.clock()
        checkout = hold_slot(
            checkout_id=derived_id("checkout", cmd.patient_id, cmd.key),
            slot=slot,
            doctor=doctor,
            patient_id=cmd.patient_id,
            method=cmd.method,
            now=now,
            hold_ttl=ctx.settings.hold_ttl,
            held_by=held_by,
            rescheduling=rescheduling,
        )
        if held_by is not None:
            # A lapsed hold's checkout may have just expired here.
            await uow.checkouts.save(held_by)
        if checkout is held_by:
            await uow.commit()
            return checkout
        # Last of the locks (after the slot's and any reservation's), so none waits on it
        # while holding the patient's.
        open_now = await uow.checkouts.open_of(cmd.patient_id, now)
        ensure_may_open_another(cmd.patient_id, open_now, ctx.settings.max_open_checkouts, now)
        opened = await ctx.payments.open(
            payment_order(
                checkout,
                doctor_id=checkout.doctor_id,
                description=f"Appointment with {doctor.display_name}",
                return_url=cmd.return_url or ctx.settings.default_return_url,
            )
        )
        _opened(checkout, slot, opened, now)
        await uow.slots.save(slot)
        await uow.checkouts.save(checkout)
        await uow.commit()
    metrics.HOLDS.inc()
    return checkout


def _opened(checkout: Checkout, slot: Slot, opened: OpenedAttempt, now: datetime) -> None:
    failure = attempt_opened(checkout, opened, now)
    if failure is not None:
        checkout.attempt_failed(
            failure,
            slot=slot,
            now=now,
            payment_id=opened.payment_id,
            attempt_id=opened.attempt_id,
        )


async def retry_checkout(ctx: Context, uow: BookingUnit, cmd: RetryCheckout) -> Checkout:
    async with uow:
        found = await load_checkout(uow.checkouts, cmd.checkout_id, cmd.viewer)
        slot = await _slot(uow, found.slot_id)
        checkout = await load_checkout(uow.checkouts, cmd.checkout_id, cmd.viewer, lock=True)
        now = ctx.clock()
        opened = await attempt_again(ctx.payments, checkout, cmd.method, now=now)
        _opened(checkout, slot, opened, now)
        await uow.slots.save(slot)
        await uow.checkouts.save(checkout)
        await uow.commit()
        return checkout


async def _locked(
    ctx: Context, uow: BookingUnit, checkout_id: str, happened_at: datetime | None = None
) -> tuple[Slot, Checkout, Doctor | None] | None:
    """The checkout and its slot, locked, the slot first as everywhere, and its doctor;
    None for a checkout that was never stored."""
    found = await uow.slots.with_checkout(checkout_id)
    if found is None:
        wait = ctx.settings.unknown_checkout_after
        ensure_was_stored(checkout_id, happened_at=happened_at, now=ctx.clock(), wait=wait)
    return found


async def payment_confirmed(ctx: Context, uow: BookingUnit, news: PaymentConfirmed) -> None:
    """A paid checkout becomes a reservation if the slot can still be had for the price
    paid; otherwise PurchaseRejected asks payment for a full refund. A reschedule's new
    reservation cancels the one it replaces, in the same transaction."""
    payment = news.payment
    async with uow:
        locked = await _locked(ctx, uow, news.checkout_id, payment.confirmed_at)
        if locked is None:
            kind = Checkout.PURCHASE_KIND
            refund_unknown_checkout(uow, kind, news.checkout_id, payment.payment_id, ctx.clock())
            await uow.commit()
            return
        slot, checkout, doctor = locked
        if doctor is None:
            raise DoctorNotFound(checkout.doctor_id)
        now = ctx.clock()
        reservation = checkout.payment_confirmed(
            payment,
            slot=slot,
            doctor=doctor,
            reservation_id=derived_id("reservation", checkout.id),
            now=now,
        )
        replaced = None
        if reservation is not None:
            await uow.reservations.save(reservation)
            if checkout.rescheduled_reservation_id is not None:
                replaced = await _replace(ctx, uow, checkout, reservation, now)
        await uow.slots.save(slot)
        await uow.checkouts.save(checkout)
        uow.publish(checkout, reservation, replaced, correlation_id=checkout.id)
        await uow.commit()


async def _replace(ctx: Context, uow: BookingUnit, checkout: Checkout, new, now):
    assert checkout.rescheduled_reservation_id is not None
    old = await uow.reservations.get(checkout.rescheduled_reservation_id, for_update=True)
    if old is None:
        return None
    old_slot = await uow.slots.get(old.slot_id, for_update=True)
    assert old_slot is not None
    old.replaced_by(
        new,
        slot=old_slot,
        requested_at=checkout.created_at,
        now=now,
        policy=ctx.settings.notice_policy,
    )
    await uow.slots.save(old_slot)
    await uow.reservations.save(old)
    return old


async def payment_failed(ctx: Context, uow: BookingUnit, news: PaymentFailed) -> None:
    async with uow:
        locked = await _locked(ctx, uow, news.checkout_id, news.failed_at)
        if locked is None:
            return  # a checkout never stored has nothing to fail
        slot, checkout, _ = locked
        checkout.attempt_failed(
            news.failure,
            slot=slot,
            now=ctx.clock(),
            payment_id=news.payment_id,
            attempt_id=news.attempt_id,
        )
        await uow.slots.save(slot)
        await uow.checkouts.save(checkout)
        await uow.commit()


async def purchase_voided(ctx: Context, uow: BookingUnit, news: PurchaseVoided) -> None:
    """Payment took the money back on its own (an early fraud warning): the reservation
    is cancelled and its slot is for sale again, or the checkout not yet answered will
    book nothing. Booking asks for no refund: the money is on its way back already."""
    async with uow:
        locked = await _locked(ctx, uow, news.checkout_id, news.voided_at)
        if locked is None:
            return  # never stored: nothing was booked, and the refund is payment's
        slot, checkout, _ = locked
        reservation = None
        if checkout.reservation_id is not None:
            reservation = await uow.reservations.get(checkout.reservation_id, for_update=True)
        checkout.purchase_voided(
            news.payment_id, news.reason, slot=slot, reservation=reservation, now=ctx.clock()
        )
        if reservation is not None:
            await uow.reservations.save(reservation)
        await uow.slots.save(slot)
        await uow.checkouts.save(checkout)
        uow.publish(reservation, correlation_id=checkout.id)
        await uow.commit()


async def payment_expired(ctx: Context, uow: BookingUnit, news: PaymentExpired) -> None:
    """The payment expired unpaid: the slot goes back on sale. A payment confirmed later
    is still answered, by reservation or refund."""
    await _lapse(ctx, uow, news.checkout_id, news.expired_at, lapsed_only=False)


async def expire_checkout(ctx: Context, uow: BookingUnit, cmd: ExpireCheckout) -> None:
    await _lapse(ctx, uow, cmd.checkout_id, None, lapsed_only=True)


async def _lapse(
    ctx: Context,
    uow: BookingUnit,
    checkout_id: str,
    happened_at: datetime | None,
    *,
    lapsed_only: bool,
) -> None:
    async with uow:
        locked = await _locked(ctx, uow, checkout_id, happened_at)
        if locked is None:
            return
        slot, checkout, _ = locked
        now = ctx.clock()
        if lapsed_only and not checkout.lapsed(now):
            return
        before = checkout.status
        checkout.lapse(slot=slot, now=now)
        await uow.slots.save(slot)
        await uow.checkouts.save(checkout)
        await uow.commit()
    if checkout.status is not before:
        (metrics.expired_on_hold if lapsed_only else metrics.expired_on_payment).inc()


async def expire_lapsed_checkouts(ctx: Context) -> None:
    """The job: every open checkout past its hold is expired and its slot put back."""

    def lapsed(uow: BookingUnit):
        return uow.checkouts.open_past_hold(ctx.clock(), ctx.settings.batch)

    await sweep(ctx, lapsed, expire_checkout, ExpireCheckout, "expire checkout")
