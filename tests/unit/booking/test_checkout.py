from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.checkout import CheckoutStatus, PaymentMethod
from purchasing.events import PurchaseFulfilled, PurchaseRejected
from runtime.money import Money
from services.booking.domain.checkout import RefundReason
from services.booking.domain.events import ReservationConfirmed
from services.booking.domain.reservation import ReservationStatus
from services.booking.domain.slot import SlotStatus
from tests.unit.booking.builders import (
    DECLINED,
    FEE,
    NOW,
    a_checkout,
    a_slot,
    confirm,
    paid,
)

MINUTE = timedelta(minutes=1)


def test_a_payment_confirmed_while_awaiting_creates_one_reservation():
    slot = a_slot()
    checkout = a_checkout(slot)

    reservation = confirm(checkout, slot, at=NOW + 2 * MINUTE)

    assert reservation is not None
    assert reservation.status is ReservationStatus.CONFIRMED
    assert (reservation.slot_id, reservation.patient_id, reservation.price) == (
        slot.id,
        "patient-1",
        FEE,
    )
    assert (reservation.starts_at, reservation.ends_at) == (slot.starts_at, slot.ends_at)
    assert checkout.status is CheckoutStatus.CONFIRMED
    assert checkout.reservation_id == reservation.id
    assert slot.reservation_id == reservation.id and slot.hold is None
    assert reservation.events == [
        ReservationConfirmed(
            reservation_id=reservation.id,
            checkout_id=checkout.id,
            payment_id="payment-checkout-1",
            slot_id=slot.id,
            doctor_id="doctor-1",
            patient_id="patient-1",
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            price=FEE,
            rescheduled_from_reservation_id=None,
            confirmed_at=NOW + 2 * MINUTE,
        )
    ]
    assert checkout.events == [
        PurchaseFulfilled("payment-checkout-1", checkout.purchase, NOW + 2 * MINUTE)
    ]


def test_a_wallet_payment_takes_the_same_path_to_a_reservation():
    slot = a_slot()
    checkout = a_checkout(slot, method=PaymentMethod.WALLET)

    assert confirm(checkout, slot) is not None
    assert checkout.status is CheckoutStatus.CONFIRMED


def test_a_payment_confirmed_after_a_failed_attempt_creates_the_reservation():
    slot = a_slot()
    checkout = a_checkout(slot)
    checkout.attempt_failed(DECLINED, slot=slot, now=NOW + MINUTE)

    reservation = confirm(checkout, slot, at=NOW + 2 * MINUTE)

    assert reservation is not None
    assert checkout.status is CheckoutStatus.CONFIRMED
    assert checkout.payment_failure is None


def test_a_payment_confirmed_after_expiry_is_honoured_while_the_slot_is_free():
    slot = a_slot()
    checkout = a_checkout(slot)
    late = checkout.expires_at + 3 * MINUTE
    checkout.lapse(slot=slot, now=checkout.expires_at)

    reservation = confirm(checkout, slot, at=late)

    assert reservation is not None
    assert checkout.status is CheckoutStatus.CONFIRMED
    assert slot.status(late) is SlotStatus.BOOKED


def test_a_payment_confirmed_after_the_hold_lapsed_but_before_expiry_ran_is_honoured():
    slot = a_slot()
    checkout = a_checkout(slot)

    assert confirm(checkout, slot, at=checkout.expires_at + MINUTE) is not None


def test_a_payment_confirmed_after_the_slot_was_taken_is_refunded_in_full():
    slot = a_slot()
    late_payer = a_checkout(slot)
    late = late_payer.expires_at + MINUTE
    rival = a_checkout(
        slot, patient_id="patient-2", checkout_id="checkout-2", now=late, held_by=late_payer
    )
    confirm(rival, slot, at=late)

    reservation = confirm(late_payer, slot, at=late + MINUTE)

    assert reservation is None
    assert late_payer.status is CheckoutStatus.REFUNDED
    assert late_payer.refund_reason is RefundReason.SLOT_TAKEN
    assert late_payer.events == [
        PurchaseRejected("payment-checkout-1", late_payer.purchase, "slot_taken", late + MINUTE)
    ]
    assert slot.reservation_id == "reservation-checkout-2"


def test_a_late_payment_is_refunded_while_another_patient_holds_the_slot():
    slot = a_slot()
    late_payer = a_checkout(slot)
    late = late_payer.expires_at + MINUTE
    holder = a_checkout(
        slot, patient_id="patient-2", checkout_id="checkout-2", now=late, held_by=late_payer
    )

    assert confirm(late_payer, slot, at=late + MINUTE) is None

    assert late_payer.refund_reason is RefundReason.SLOT_TAKEN
    assert slot.hold is not None and slot.hold.checkout_id == holder.id
    assert confirm(holder, slot, at=late + 2 * MINUTE) is not None


def test_a_payment_confirmed_twice_changes_nothing_the_second_time():
    slot = a_slot()
    checkout = a_checkout(slot)
    first = confirm(checkout, slot)

    again = confirm(checkout, slot, at=NOW + MINUTE)

    assert first is not None and again is None
    assert checkout.status is CheckoutStatus.CONFIRMED
    assert checkout.reservation_id == first.id
    assert len(checkout.events) == 1


def test_a_refunded_payment_confirmed_again_changes_nothing():
    slot = a_slot()
    checkout = a_checkout(slot)
    wrong = paid(checkout, amount=Money(1, "IRR"))
    confirm(checkout, slot, wrong)

    assert confirm(checkout, slot, wrong, at=NOW + MINUTE) is None
    assert confirm(checkout, slot, at=NOW + MINUTE) is None

    assert checkout.status is CheckoutStatus.REFUNDED
    assert len(checkout.events) == 1


@pytest.mark.parametrize("failed_first", [False, True], ids=["awaiting", "payment failed"])
def test_payment_expired_ends_an_open_checkout_and_frees_the_slot(failed_first):
    slot = a_slot()
    checkout = a_checkout(slot)
    if failed_first:
        checkout.attempt_failed(DECLINED, slot=slot, now=NOW + MINUTE)

    checkout.lapse(slot=slot, now=NOW + 5 * MINUTE)

    assert checkout.status is CheckoutStatus.EXPIRED
    assert slot.hold is None
    assert slot.status(NOW + 5 * MINUTE) is SlotStatus.FREE
    assert checkout.events == []


def test_payment_expired_after_confirmation_changes_nothing():
    slot = a_slot()
    checkout = a_checkout(slot)
    confirm(checkout, slot)

    checkout.lapse(slot=slot, now=NOW + MINUTE)

    assert checkout.status is CheckoutStatus.CONFIRMED
    assert slot.status(NOW + MINUTE) is SlotStatus.BOOKED


def test_expiring_a_checkout_leaves_another_checkouts_hold_alone():
    slot = a_slot()
    first = a_checkout(slot)
    later = first.expires_at
    second = a_checkout(
        slot, patient_id="patient-2", checkout_id="checkout-2", now=later, held_by=first
    )

    first.lapse(slot=slot, now=later)

    assert slot.hold is not None and slot.hold.checkout_id == second.id


def test_a_checkout_past_its_hold_is_due_for_expiry():
    checkout = a_checkout(a_slot())

    assert not checkout.lapsed(checkout.expires_at - MINUTE)
    assert checkout.lapsed(checkout.expires_at)
