from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.checkout import CheckoutStatus, PaymentMethod
from runtime.money import Money
from services.booking.domain.checkout import DEFAULT_HOLD_TTL, hold_slot
from services.booking.domain.errors import SlotAlreadyBooked, SlotAlreadyHeld, SlotNotBookable
from services.booking.domain.slot import SlotStatus
from tests.unit.booking.builders import DECLINED, FEE, NOW, a_checkout, a_doctor, a_slot, confirm


def test_a_free_slot_is_held_for_ten_minutes_by_default():
    slot = a_slot()

    checkout = a_checkout(slot)

    assert checkout.expires_at == NOW + timedelta(minutes=10) == NOW + DEFAULT_HOLD_TTL
    assert slot.hold is not None and slot.hold.checkout_id == checkout.id
    assert slot.status(NOW) is SlotStatus.HELD
    assert checkout.status is CheckoutStatus.AWAITING_PAYMENT


def test_the_hold_length_is_configurable():
    slot = a_slot()

    checkout = hold_slot(
        checkout_id="checkout-1",
        slot=slot,
        doctor=a_doctor(),
        patient_id="patient-1",
        method=PaymentMethod.WALLET,
        now=NOW,
        hold_ttl=timedelta(minutes=3),
    )

    assert checkout.expires_at == NOW + timedelta(minutes=3)


def test_starting_a_checkout_books_nothing_and_tells_nobody():
    slot = a_slot()

    checkout = a_checkout(slot)

    assert slot.reservation_id is None
    assert checkout.reservation_id is None
    assert checkout.events == []


def test_the_checkout_keeps_the_fee_it_started_with():
    doctor = a_doctor()
    checkout = a_checkout(a_slot(), doctor=doctor)

    doctor.update(now=NOW, appointment_fee=Money(999_000, "IRR"))

    assert checkout.price == FEE


def test_a_second_patient_cannot_hold_a_held_slot():
    slot = a_slot()
    first = a_checkout(slot)

    with pytest.raises(SlotAlreadyHeld) as error:
        a_checkout(
            slot,
            patient_id="patient-2",
            checkout_id="checkout-2",
            now=NOW + timedelta(minutes=4),
            held_by=first,
        )

    assert error.value.hold_expires_at == first.expires_at
    assert error.value.metadata == {
        "slot_id": slot.id,
        "hold_expires_at": first.expires_at.isoformat(),
    }
    assert slot.hold is not None and slot.hold.checkout_id == first.id


def test_the_same_patient_asking_again_gets_the_same_checkout():
    slot = a_slot()
    first = a_checkout(slot)

    again = a_checkout(
        slot, checkout_id="checkout-2", now=NOW + timedelta(minutes=4), held_by=first
    )

    assert again is first
    assert slot.hold is not None and slot.hold.checkout_id == first.id
    assert first.expires_at == NOW + timedelta(minutes=10)


def test_the_same_patient_after_a_failed_payment_gets_the_checkout_to_retry():
    slot = a_slot()
    first = a_checkout(slot)
    first.attempt_failed(DECLINED, slot=slot, now=NOW + timedelta(minutes=1))

    again = a_checkout(
        slot, checkout_id="checkout-2", now=NOW + timedelta(minutes=2), held_by=first
    )

    assert again is first
    assert again.retryable(NOW + timedelta(minutes=2))


def test_an_expired_hold_frees_the_slot_for_another_patient():
    slot = a_slot()
    first = a_checkout(slot)
    later = first.expires_at

    assert slot.status(later) is SlotStatus.FREE
    second = a_checkout(
        slot, patient_id="patient-2", checkout_id="checkout-2", now=later, held_by=first
    )

    assert slot.hold is not None and slot.hold.checkout_id == second.id
    assert first.status is CheckoutStatus.EXPIRED


def test_the_same_patient_after_their_hold_lapsed_gets_a_fresh_checkout():
    slot = a_slot()
    first = a_checkout(slot)
    later = first.expires_at + timedelta(minutes=1)

    second = a_checkout(slot, checkout_id="checkout-2", now=later, held_by=first)

    assert second is not first
    assert second.expires_at == later + DEFAULT_HOLD_TTL
    assert first.status is CheckoutStatus.EXPIRED


def test_a_booked_slot_cannot_be_held():
    slot = a_slot()
    first = a_checkout(slot)
    confirm(first, slot)

    with pytest.raises(SlotAlreadyBooked):
        a_checkout(slot, patient_id="patient-2", checkout_id="checkout-2")


def test_a_slot_that_has_started_cannot_be_held():
    slot = a_slot(starts_in=timedelta(minutes=-1))

    with pytest.raises(SlotNotBookable, match="already started"):
        a_checkout(slot)


def test_a_withdrawn_slot_cannot_be_held():
    slot = a_slot()
    slot.withdraw(NOW)

    with pytest.raises(SlotNotBookable, match="no longer offered"):
        a_checkout(slot)


def test_an_inactive_doctor_takes_no_checkouts():
    doctor = a_doctor()
    doctor.update(now=NOW, active=False)

    with pytest.raises(SlotNotBookable, match="not taking bookings"):
        a_checkout(a_slot(), doctor=doctor)


def test_a_hold_never_outlasts_the_start_of_its_slot():
    slot = a_slot(starts_in=timedelta(minutes=4))

    checkout = a_checkout(slot)

    assert checkout.expires_at == slot.starts_at


def test_the_handler_must_say_which_checkout_holds_the_slot():
    slot = a_slot()
    a_checkout(slot)

    with pytest.raises(ValueError, match="held_by"):
        a_checkout(slot, patient_id="patient-2", checkout_id="checkout-2")


def test_a_slot_is_free_held_then_booked():
    slot = a_slot()
    assert slot.status(NOW) is SlotStatus.FREE

    checkout = a_checkout(slot)
    assert slot.status(NOW) is SlotStatus.HELD

    confirm(checkout, slot)
    assert slot.status(NOW) is SlotStatus.BOOKED
    assert slot.hold is None


def test_a_slot_cannot_be_booked_over_another_checkouts_live_hold():
    slot = a_slot()
    a_checkout(slot)

    with pytest.raises(SlotAlreadyHeld):
        slot.book("reservation-2", "checkout-2", NOW)


def test_booking_a_slot_clears_a_lapsed_hold_of_another_checkout():
    slot = a_slot()
    first = a_checkout(slot)

    slot.book("reservation-2", "checkout-2", first.expires_at)

    assert slot.hold is None
    assert slot.reservation_id == "reservation-2"
