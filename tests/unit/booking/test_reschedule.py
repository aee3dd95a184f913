from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.checkout import CheckoutStatus, PaymentMethod
from purchasing.events import RefundRequested
from runtime.money import Money
from services.booking.domain.cancellation import CancelledBy, NoticePolicy
from services.booking.domain.checkout import hold_slot
from services.booking.domain.errors import (
    AppointmentAlreadyStarted,
    ReservationAlreadyCancelled,
    ReservationNotFound,
    SlotAlreadyBooked,
)
from services.booking.domain.events import ReservationCancelled
from services.booking.domain.reservation import RESCHEDULED, Reservation, ReservationStatus
from services.booking.domain.slot import Slot, SlotStatus
from tests.unit.booking.builders import (
    DECLINED,
    FEE,
    NOW,
    a_doctor,
    a_reservation,
    a_slot,
    confirm,
)

HOUR = timedelta(hours=1)


def reschedule(old: Reservation, new_slot: Slot, *, now=NOW, patient_id="patient-1"):
    checkout = hold_slot(
        checkout_id="checkout-new",
        slot=new_slot,
        doctor=a_doctor(),
        patient_id=patient_id,
        method=PaymentMethod.GATEWAY,
        now=now,
        rescheduling=old,
    )
    checkout.payment_created(
        payment_id="payment-checkout-new", attempt_id=None, checkout_url=None, now=now
    )
    return checkout


def moved(starts_in: timedelta = timedelta(days=3), *, paid_at=NOW):
    """A reservation and its slot, and the confirmed reservation asked to replace it at NOW."""
    old, old_slot = a_reservation("old", starts_in)
    new_slot = a_slot("slot-new", starts_in=timedelta(days=5))
    checkout = reschedule(old, new_slot)
    new = confirm(checkout, new_slot, at=paid_at)
    assert new is not None
    return old, old_slot, new, new_slot


def test_rescheduling_holds_the_new_slot_and_leaves_the_old_reservation_alone():
    old, old_slot = a_reservation("old")
    new_slot = a_slot("slot-new", starts_in=timedelta(days=5))

    checkout = reschedule(old, new_slot)

    assert checkout.rescheduled_reservation_id == old.id
    assert new_slot.status(NOW) is SlotStatus.HELD
    assert old.is_active and old_slot.status(NOW) is SlotStatus.BOOKED


def test_the_old_reservation_is_cancelled_only_once_the_new_one_is_confirmed():
    paid_at = NOW + 2 * HOUR
    old, old_slot, new, new_slot = moved(paid_at=paid_at)
    assert new.rescheduled_from_reservation_id == old.id
    assert old.is_active

    cancellation = old.replaced_by(new, slot=old_slot, requested_at=NOW, now=paid_at)

    assert cancellation is not None
    assert (cancellation.cancelled_by, cancellation.reason, cancellation.refund) == (
        CancelledBy.PATIENT,
        RESCHEDULED,
        FEE,
    )
    assert old.status is ReservationStatus.CANCELLED
    assert old_slot.status(paid_at) is SlotStatus.FREE
    assert new_slot.status(paid_at) is SlotStatus.BOOKED
    assert [type(event) for event in old.events] == [ReservationCancelled, RefundRequested]
    assert old.events[1].reason == "reservation_rescheduled"


def test_a_failed_payment_for_the_new_slot_loses_nothing():
    old, old_slot = a_reservation("old")
    new_slot = a_slot("slot-new", starts_in=timedelta(days=5))
    checkout = reschedule(old, new_slot)

    checkout.attempt_failed(DECLINED, slot=new_slot, now=NOW + HOUR)
    checkout.lapse(slot=new_slot, now=NOW + 2 * HOUR)

    assert checkout.status is CheckoutStatus.EXPIRED
    assert old.is_active and old_slot.status(NOW) is SlotStatus.BOOKED
    assert new_slot.status(NOW + 2 * HOUR) is SlotStatus.FREE


def test_the_notice_is_counted_from_when_the_patient_asked_to_move():
    # Asked 25 h ahead; the payment took two hours, so it was confirmed 23 h ahead.
    old, old_slot, new, _ = moved(starts_in=25 * HOUR, paid_at=NOW + 2 * HOUR)

    cancellation = old.replaced_by(new, slot=old_slot, requested_at=NOW, now=NOW + 2 * HOUR)

    assert cancellation is not None and cancellation.refund == FEE


def test_moving_an_appointment_at_short_notice_is_refunded_like_cancelling_it():
    old, old_slot, new, _ = moved(starts_in=3 * HOUR)

    cancellation = old.replaced_by(new, slot=old_slot, requested_at=NOW, now=NOW)

    assert cancellation is not None
    assert cancellation.refund == Money(FEE.amount_minor // 2, "IRR")


def test_a_clinic_can_make_moving_free_with_its_own_policy():
    old, old_slot, new, _ = moved(starts_in=HOUR)

    cancellation = old.replaced_by(
        new, slot=old_slot, requested_at=NOW, now=NOW, policy=NoticePolicy.parse("0m:100")
    )

    assert cancellation is not None and cancellation.refund == FEE


def test_completing_a_reschedule_after_the_old_one_was_cancelled_changes_nothing():
    old, old_slot, new, _ = moved()
    old.cancel(by=CancelledBy.DOCTOR, reason="on leave", slot=old_slot, now=NOW)

    assert old.replaced_by(new, slot=old_slot, requested_at=NOW, now=NOW + HOUR) is None

    assert old.cancellation is not None and old.cancellation.cancelled_by is CancelledBy.DOCTOR
    assert new.is_active


def test_a_reservation_replaces_only_the_one_it_reschedules():
    old, old_slot = a_reservation("old")
    unrelated, _ = a_reservation("unrelated", timedelta(days=6))

    with pytest.raises(ValueError, match="does not reschedule"):
        old.replaced_by(unrelated, slot=old_slot, requested_at=NOW, now=NOW)


def test_a_cancelled_reservation_cannot_be_rescheduled():
    old, old_slot = a_reservation("old")
    old.cancel(by=CancelledBy.PATIENT, reason="", slot=old_slot, now=NOW)

    with pytest.raises(ReservationAlreadyCancelled):
        reschedule(old, a_slot("slot-new"))


def test_an_appointment_that_started_cannot_be_rescheduled():
    old, _ = a_reservation("old", HOUR)

    with pytest.raises(AppointmentAlreadyStarted):
        reschedule(old, a_slot("slot-new", starts_in=timedelta(days=5)), now=NOW + 2 * HOUR)


def test_another_patients_reservation_cannot_be_rescheduled():
    old, _ = a_reservation("old")

    with pytest.raises(ReservationNotFound):
        reschedule(old, a_slot("slot-new"), patient_id="patient-2")


def test_a_reservation_cannot_be_moved_onto_its_own_slot():
    old, old_slot = a_reservation("old")

    with pytest.raises(SlotAlreadyBooked):
        reschedule(old, old_slot)
