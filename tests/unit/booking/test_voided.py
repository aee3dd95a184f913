"""A purchase payment voided on its own initiative (PurchaseVoided, an early fraud
warning): the reservation is cancelled and the slot is for sale again, without booking
asking for a refund; before the reservation, the confirmation still to come books nothing.
Duplicates and any order end the same."""

from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.checkout import CheckoutStatus
from purchasing.events import PurchaseFulfilled, PurchaseRejected, RefundRequested
from purchasing.news import PurchaseVoided
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.checkout import RefundReason
from services.booking.domain.events import ReservationCancelled
from services.booking.domain.reservation import ReservationStatus
from services.booking.domain.slot import SlotStatus
from services.booking.handlers import checkouts
from tests.unit.booking.builders import NOW, a_doctor, a_slot
from tests.unit.booking.fakes import booking_unit, context
from tests.unit.booking.test_handlers import confirmed, start, started

LATER = NOW + timedelta(minutes=3)
# The slot (two days on) has begun and ended: the patient may have come, yet did not pay.
ITS_TIME_PASSED = NOW + timedelta(days=3)


def voided(checkout, at=LATER) -> PurchaseVoided:
    return PurchaseVoided(checkout.id, checkout.payment_id, "fraud_warning", at)


@pytest.mark.parametrize("when", [LATER, ITS_TIME_PASSED])
async def test_a_voided_purchase_cancels_its_reservation_once_and_asks_no_refund(when):
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    await checkouts.payment_confirmed(context(uow, now=LATER), uow, confirmed(checkout, at=NOW))
    ctx = context(uow, now=when)
    await checkouts.purchase_voided(ctx, uow, voided(checkout, when))
    await checkouts.purchase_voided(ctx, uow, voided(checkout, when))
    # A confirmation told again after it (the orphan check, a redelivery) books nothing.
    await checkouts.payment_confirmed(ctx, uow, confirmed(checkout, at=NOW))

    (reservation,) = uow.reservations.all()
    assert reservation.status is ReservationStatus.CANCELLED
    assert reservation.cancellation.cancelled_by is CancelledBy.PAYMENT
    assert reservation.cancellation.reason == "fraud_warning"
    assert (await uow.slots.get("slot-1")).status(LATER) is SlotStatus.FREE
    assert len(uow.of(ReservationCancelled)) == 1
    assert uow.of(RefundRequested) == [] and uow.of(PurchaseRejected) == []


async def test_voided_before_its_confirmation_arrives_books_nothing_and_frees_the_slot():
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    ctx = context(uow, now=LATER)
    await checkouts.purchase_voided(ctx, uow, voided(checkout))
    await checkouts.payment_confirmed(ctx, uow, confirmed(checkout, at=NOW))
    await checkouts.purchase_voided(ctx, uow, voided(checkout))

    assert uow.reservations.all() == []
    (stored,) = uow.checkouts.all()
    assert (stored.status, stored.refund_reason) == (
        CheckoutStatus.REFUNDED,
        RefundReason.PURCHASE_VOIDED,
    )
    assert (await uow.slots.get("slot-1")).status(LATER) is SlotStatus.FREE
    # Payment refunds it already: nothing is rejected, nothing fulfilled.
    assert uow.of(PurchaseRejected) == [] and uow.of(PurchaseFulfilled) == []
    # The slot can be booked again by someone else.
    other = await checkouts.start_checkout(ctx, uow, start(patient_id="patient-2", key="k2"))
    assert other.status is CheckoutStatus.AWAITING_PAYMENT


async def test_a_reservation_cancelled_before_stays_as_it_was():
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    ctx = context(uow, now=LATER)
    await checkouts.payment_confirmed(ctx, uow, confirmed(checkout, at=NOW))
    (reservation,) = uow.reservations.all()
    slot = await uow.slots.get("slot-1")
    reservation.cancel(by=CancelledBy.DOCTOR, reason="ill", slot=slot, now=LATER)
    await uow.reservations.save(reservation)
    await uow.slots.save(slot)
    await checkouts.purchase_voided(ctx, uow, voided(checkout))
    (stored,) = uow.reservations.all()
    assert stored.cancellation.cancelled_by is CancelledBy.DOCTOR
