"""Checkouts: hold a slot, have payment charge for it, and turn what payment says into a
reservation or a refund.

No reservation is written when a checkout starts: only PaymentConfirmed makes one, in
one transaction with its inbox row, under the slot's row lock; a slot the payment can no
longer have is answered with PurchaseRejected, so payment refunds in full. Locks are
always taken slot first, then checkout, then reservation, so handlers never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from clients.payment import OpenedAttempt, PaymentOrder
from purchasing.checkout import ConfirmedPayment, PaymentFailure, PaymentMethod
from purchasing.errors import CheckoutNotFound
from purchasing.events import UNKNOWN_CHECKOUT, Purchase, PurchaseRejected
from runtime import errors
from runtime.db import UnitOfWork
from services.booking.adapters.messages import event_message
from services.booking.domain.checkout import Checkout, start_checkout
from services.booking.domain.errors import ReservationNotFound
from services.booking.domain.slot import Slot
from services.booking.handlers.context import Context
from services.booking.handlers.doctors import load_doctor
from services.booking.handlers.stores import Stores, derived_id, publish


class SlotNotFound(errors.NotFound):
    def __init__(self, slot_id: str) -> None:
        super().__init__(f"no slot {slot_id}", slot_id=slot_id)


class CheckoutNotYetVisible(Exception):
    """A payment event about a checkout whose transaction has not committed yet (a wallet
    payment confirms within StartCheckout's own call): worth redelivering shortly."""


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


@dataclass(frozen=True)
class RetryCheckout:
    checkout_id: str
    method: PaymentMethod | None = None


async def _slot(stores: Stores, slot_id: str) -> Slot:
    slot = await stores.slots.get(slot_id, for_update=True)
    if slot is None or slot.withdrawn:
        raise SlotNotFound(slot_id)
    return slot


async def load_checkout(
    stores: Stores, checkout_id: str, viewer: str | None, *, lock: bool = False
) -> Checkout:
    checkout = await stores.checkouts.get(checkout_id, for_update=lock)
    if checkout is None or (viewer is not None and checkout.patient_id != viewer):
        raise CheckoutNotFound(checkout_id)
    return checkout


async def get_checkout(
    ctx: Context, uow: UnitOfWork, checkout_id: str, viewer: str | None
) -> Checkout:
    async with uow:
        return await load_checkout(Stores(uow.session), checkout_id, viewer)


async def start(ctx: Context, uow: UnitOfWork, cmd: StartCheckout) -> Checkout:
    async with uow:
        stores = Stores(uow.session)
        slot = await _slot(stores, cmd.slot_id)
        doctor = await load_doctor(stores, slot.doctor_id)
        held_by = None
        if slot.hold is not None:
            held_by = await stores.checkouts.get(slot.hold.checkout_id, for_update=True)
        rescheduling = None
        if cmd.rescheduling is not None:
            rescheduling = await stores.reservations.get(cmd.rescheduling, for_update=True)
            if rescheduling is None:
                raise ReservationNotFound(cmd.rescheduling)
        now = ctx.clock()
        checkout = start_checkout(
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
            await stores.checkouts.save(held_by)
        if checkout is held_by:
            await uow.commit()
            return checkout
        opened = await ctx.payments.open(
            PaymentOrder(
                purchase_kind=checkout.PURCHASE_KIND,
                purchase_ref=checkout.id,
                patient_id=checkout.patient_id,
                doctor_id=checkout.doctor_id,
                amount_minor=checkout.price.amount_minor,
                currency=checkout.price.currency,
                method=checkout.method.value,
                return_url=cmd.return_url or ctx.settings.default_return_url,
                description=f"Appointment with {doctor.display_name}",
                expires_at=checkout.expires_at,
            )
        )
        _opened(checkout, slot, opened, now)
        await stores.slots.save(slot)
        await stores.checkouts.save(checkout)
        await uow.commit()
        return checkout


def _opened(checkout: Checkout, slot: Slot, opened: OpenedAttempt, now) -> None:
    checkout.payment_created(
        payment_id=opened.payment_id,
        attempt_id=opened.attempt_id,
        checkout_url=opened.checkout_url,
        now=now,
    )
    if opened.failure is not None:
        checkout.attempt_failed(
            PaymentFailure(opened.failure.code, opened.failure.message, opened.failure.retryable),
            slot=slot,
            now=now,
            payment_id=opened.payment_id,
            attempt_id=opened.attempt_id,
        )


async def retry(ctx: Context, uow: UnitOfWork, cmd: RetryCheckout, viewer: str | None) -> Checkout:
    async with uow:
        stores = Stores(uow.session)
        found = await load_checkout(stores, cmd.checkout_id, viewer)
        slot = await _slot(stores, found.slot_id)
        checkout = await load_checkout(stores, cmd.checkout_id, viewer, lock=True)
        now = ctx.clock()
        checkout.retry(now, cmd.method)
        assert checkout.payment_id is not None
        opened = await ctx.payments.retry(
            checkout.payment_id,
            f"{checkout.id}/attempt/{checkout.attempt}",
            checkout.method.value,
            ctx.settings.default_return_url,
        )
        _opened(checkout, slot, opened, now)
        await stores.slots.save(slot)
        await stores.checkouts.save(checkout)
        await uow.commit()
        return checkout


async def _locked(
    ctx: Context, stores: Stores, checkout_id: str, happened_at: datetime | None = None
) -> tuple[Slot, Checkout] | None:
    """The checkout and its slot, locked; None for one that was never stored."""
    found = await stores.checkouts.get(checkout_id)
    if found is None:
        if happened_at is None or ctx.clock() - happened_at < ctx.settings.unknown_checkout_after:
            raise CheckoutNotYetVisible(checkout_id)
        return None
    slot = await stores.slots.get(found.slot_id, for_update=True)
    checkout = await stores.checkouts.get(checkout_id, for_update=True)
    assert slot is not None and checkout is not None
    return slot, checkout


async def payment_confirmed(
    ctx: Context, uow: UnitOfWork, checkout_id: str, payment: ConfirmedPayment
) -> Checkout | None:
    """A paid checkout becomes a reservation if the slot can still be had for the price
    paid; otherwise PurchaseRejected asks payment for a full refund. A reschedule's new
    reservation cancels the one it replaces, in the same transaction."""
    async with uow:
        stores = Stores(uow.session)
        locked = await _locked(ctx, stores, checkout_id, payment.confirmed_at)
        if locked is None:
            # Payment took money for a checkout whose own transaction never committed:
            # nothing was bought, so all of it goes back.
            now = ctx.clock()
            rejection = PurchaseRejected(
                payment.payment_id,
                Purchase(Checkout.PURCHASE_KIND, checkout_id),
                UNKNOWN_CHECKOUT,
                now,
            )
            uow.emit(event_message(rejection), correlation_id=checkout_id)
            await uow.commit()
            return None
        slot, checkout = locked
        doctor = await load_doctor(stores, checkout.doctor_id)
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
            await stores.reservations.save(reservation)
            if checkout.rescheduled_reservation_id is not None:
                replaced = await _replace(ctx, stores, checkout, reservation, now)
        await stores.slots.save(slot)
        await stores.checkouts.save(checkout)
        publish(uow, checkout, reservation, replaced, correlation_id=checkout.id)
        await uow.commit()
        return checkout


async def _replace(ctx: Context, stores: Stores, checkout: Checkout, new, now):
    assert checkout.rescheduled_reservation_id is not None
    old = await stores.reservations.get(checkout.rescheduled_reservation_id, for_update=True)
    if old is None:
        return None
    old_slot = await stores.slots.get(old.slot_id, for_update=True)
    assert old_slot is not None
    old.replaced_by(
        new,
        slot=old_slot,
        requested_at=checkout.created_at,
        now=now,
        policy=ctx.settings.notice_policy,
    )
    await stores.slots.save(old_slot)
    await stores.reservations.save(old)
    return old


async def payment_failed(
    ctx: Context,
    uow: UnitOfWork,
    checkout_id: str,
    failure: PaymentFailure,
    payment_id: str,
    attempt_id: str | None,
    failed_at: datetime,
) -> Checkout | None:
    async with uow:
        stores = Stores(uow.session)
        locked = await _locked(ctx, stores, checkout_id, failed_at)
        if locked is None:
            return None  # a checkout never stored has nothing to fail
        slot, checkout = locked
        checkout.attempt_failed(
            failure, slot=slot, now=ctx.clock(), payment_id=payment_id, attempt_id=attempt_id
        )
        await stores.slots.save(slot)
        await stores.checkouts.save(checkout)
        await uow.commit()
        return checkout


async def expire(
    ctx: Context,
    uow: UnitOfWork,
    checkout_id: str,
    *,
    lapsed_only: bool,
    expired_at: datetime | None = None,
) -> None:
    """The payment expired unpaid, or (for the sweeper) the hold lapsed: the slot goes
    back on sale. A payment confirmed later is still answered, by reservation or refund."""
    async with uow:
        stores = Stores(uow.session)
        locked = await _locked(ctx, stores, checkout_id, expired_at)
        if locked is None:
            return
        slot, checkout = locked
        now = ctx.clock()
        if lapsed_only and not checkout.lapsed(now):
            return
        checkout.lapse(slot=slot, now=now)
        await stores.slots.save(slot)
        await stores.checkouts.save(checkout)
        await uow.commit()


async def open_past_hold(ctx: Context, uow: UnitOfWork) -> Sequence[str]:
    async with uow:
        return await Stores(uow.session).checkouts.open_past_hold(ctx.clock(), ctx.settings.batch)
