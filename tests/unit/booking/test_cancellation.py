from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from purchasing.events import Purchase, RefundRequested
from runtime.money import Money
from services.booking.domain.cancellation import (
    DEFAULT_NOTICE_POLICY,
    CancelledBy,
    NoticePolicy,
    RefundTier,
    refund_due,
)
from services.booking.domain.errors import AppointmentAlreadyStarted, ReservationAlreadyCancelled
from services.booking.domain.events import ReservationCancelled
from services.booking.domain.reservation import Cancellation, ReservationStatus
from services.booking.domain.slot import SlotStatus
from tests.unit.booking.builders import NOW, a_checkout, a_doctor, a_reservation

HOUR = timedelta(hours=1)
USD_FEE = Money(4001, "USD")


def booked(starts_in: timedelta = timedelta(days=3)):
    return a_reservation(starts_in=starts_in, doctor=a_doctor(appointment_fee=USD_FEE))


@pytest.mark.parametrize(
    ("notice", "refunded"),
    [
        (timedelta(days=3), 4001),
        (24 * HOUR, 4001),
        (24 * HOUR - timedelta(seconds=1), 2001),
        (2 * HOUR, 2001),
        (2 * HOUR - timedelta(seconds=1), 0),
        (timedelta(0), 0),
    ],
)
def test_a_patient_is_refunded_by_the_notice_they_give(notice, refunded):
    assert refund_due(USD_FEE, CancelledBy.PATIENT, notice, DEFAULT_NOTICE_POLICY) == Money(
        refunded, "USD"
    )


@pytest.mark.parametrize("by", [CancelledBy.DOCTOR, CancelledBy.ADMIN])
def test_a_doctor_or_an_admin_cancelling_refunds_in_full_whatever_the_notice(by):
    assert refund_due(USD_FEE, by, timedelta(minutes=5), DEFAULT_NOTICE_POLICY) == USD_FEE
    assert refund_due(USD_FEE, by, -HOUR, DEFAULT_NOTICE_POLICY) == USD_FEE


def test_a_patients_cancellation_a_day_ahead_frees_the_slot_and_asks_for_a_full_refund():
    reservation, slot = booked()
    now = NOW + HOUR

    cancellation = reservation.cancel(
        by=CancelledBy.PATIENT, reason="feeling better", slot=slot, now=now
    )

    assert cancellation == Cancellation(CancelledBy.PATIENT, "feeling better", USD_FEE, now)
    assert reservation.status is ReservationStatus.CANCELLED
    assert slot.status(now) is SlotStatus.FREE
    assert reservation.events == [
        ReservationCancelled(
            reservation_id="reservation-checkout-1",
            payment_id="payment-checkout-1",
            slot_id=slot.id,
            doctor_id="doctor-1",
            patient_id="patient-1",
            starts_at=slot.starts_at,
            cancelled_by=CancelledBy.PATIENT,
            reason="feeling better",
            refund=USD_FEE,
            cancelled_at=now,
        ),
        RefundRequested(
            idempotency_key="cancel:reservation-checkout-1",
            payment_id="payment-checkout-1",
            purchase=Purchase("booking", "checkout-1"),
            amount=USD_FEE,
            reason="reservation_cancelled",
            requested_at=now,
        ),
    ]


def test_half_a_refund_of_an_odd_price_rounds_half_up():
    reservation, slot = booked(starts_in=5 * HOUR)

    cancellation = reservation.cancel(by=CancelledBy.PATIENT, reason="", slot=slot, now=NOW)

    assert cancellation.refund == Money(2001, "USD")


def test_a_late_cancellation_by_the_patient_refunds_nothing_and_asks_payment_for_nothing():
    reservation, slot = booked(starts_in=HOUR)

    cancellation = reservation.cancel(by=CancelledBy.PATIENT, reason="", slot=slot, now=NOW)

    assert cancellation.refund == Money(0, "USD")
    assert [type(event) for event in reservation.events] == [ReservationCancelled]
    assert slot.status(NOW) is SlotStatus.FREE


def test_a_patient_cannot_cancel_once_the_appointment_started():
    reservation, slot = booked(starts_in=HOUR)

    with pytest.raises(AppointmentAlreadyStarted):
        reservation.cancel(by=CancelledBy.PATIENT, reason="", slot=slot, now=NOW + HOUR)

    assert reservation.is_active


def test_a_doctor_who_did_not_come_can_cancel_afterwards_with_a_full_refund():
    reservation, slot = booked(starts_in=HOUR)

    cancellation = reservation.cancel(
        by=CancelledBy.DOCTOR, reason="doctor unavailable", slot=slot, now=NOW + 2 * HOUR
    )

    assert cancellation.refund == USD_FEE


@pytest.mark.parametrize("by", list(CancelledBy))
def test_a_reservation_is_cancelled_only_once(by):
    reservation, slot = booked()
    reservation.cancel(by=CancelledBy.ADMIN, reason="", slot=slot, now=NOW)

    with pytest.raises(ReservationAlreadyCancelled):
        reservation.cancel(by=by, reason="", slot=slot, now=NOW)

    assert len(reservation.events) == 2


def test_a_freed_slot_can_be_booked_again():
    reservation, slot = booked()
    reservation.cancel(by=CancelledBy.PATIENT, reason="", slot=slot, now=NOW)

    checkout = a_checkout(slot, patient_id="patient-2", checkout_id="checkout-2")

    assert slot.hold is not None and slot.hold.checkout_id == checkout.id


def test_the_notice_policy_is_configurable():
    policy = NoticePolicy.parse("48h:100, 12h:75, 30m:10")

    assert policy == NoticePolicy(
        (
            RefundTier(timedelta(hours=48), 100),
            RefundTier(timedelta(hours=12), 75),
            RefundTier(timedelta(minutes=30), 10),
        )
    )
    assert policy.refund(USD_FEE, 13 * HOUR) == Money(3001, "USD")
    assert policy.refund(USD_FEE, timedelta(minutes=29)) == Money(0, "USD")
    assert NoticePolicy.parse("").refund(USD_FEE, 100 * HOUR) == Money(0, "USD")


def test_a_cancellation_uses_the_policy_it_is_given():
    reservation, slot = booked(starts_in=HOUR)

    cancellation = reservation.cancel(
        by=CancelledBy.PATIENT,
        reason="",
        slot=slot,
        now=NOW,
        policy=NoticePolicy.parse("30m:80"),
    )

    assert cancellation.refund == Money(3201, "USD")


@pytest.mark.parametrize(
    "text",
    ["24h:110", "2h:50,24h:40", "24h:100,24h:50", "tomorrow:100", "24h"],
)
def test_a_policy_that_makes_no_sense_is_refused_at_start_up(text):
    with pytest.raises(ValueError):
        NoticePolicy.parse(text)


def test_tiers_are_kept_from_the_longest_notice_down():
    policy = NoticePolicy((RefundTier(2 * HOUR, 50), RefundTier(24 * HOUR, 100)))

    assert policy == DEFAULT_NOTICE_POLICY


@given(
    st.integers(1, 10**12),
    st.timedeltas(timedelta(hours=-48), timedelta(days=30)),
    st.timedeltas(timedelta(0), timedelta(days=3)),
)
def test_a_refund_never_exceeds_the_price_and_never_shrinks_with_more_notice(amount, notice, more):
    price = Money(amount, "IRR")
    refund = refund_due(price, CancelledBy.PATIENT, notice, DEFAULT_NOTICE_POLICY)
    refund_with_more_notice = refund_due(
        price, CancelledBy.PATIENT, notice + more, DEFAULT_NOTICE_POLICY
    )

    assert 0 <= refund.amount_minor <= refund_with_more_notice.amount_minor <= amount
    assert refund.currency == "IRR"
