"""Booking's use cases on an in-memory unit of work: what each stores and publishes, and
that a refused or failed one stores nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta

import pytest
from nobat.payment.v1 import events_pb2

from clients.payment import Failure
from purchasing.checkout import CheckoutStatus, ConfirmedPayment, PaymentMethod
from purchasing.commands import ExpireCheckout, RetryCheckout
from purchasing.errors import CheckoutNotFound
from purchasing.events import UNKNOWN_CHECKOUT, PurchaseFulfilled, PurchaseRejected, RefundRequested
from purchasing.handlers import CheckoutNotYetVisible
from purchasing.news import PaymentConfirmed, PaymentExpired, PaymentFailed
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.errors import SlotAlreadyHeld
from services.booking.domain.events import DoctorUpdated, ReservationCancelled, ReservationConfirmed
from services.booking.domain.schedule import AvailabilityWindow, Weekday, WeeklyAvailability
from services.booking.domain.slot import SlotStatus
from services.booking.handlers import checkouts, doctors, reservations, views
from services.booking.handlers.checkouts import SlotNotFound, StartCheckout
from services.booking.handlers.context import BookingSettings
from services.booking.handlers.doctors import DoctorAlreadyExists
from services.booking.handlers.reservations import CancelReservation, RescheduleReservation, Viewer
from tests.unit.booking.builders import DECLINED, FEE, NOW, a_doctor, a_reservation, a_slot
from tests.unit.booking.fakes import Payments, booking_unit, context

HOLD = timedelta(minutes=10)


def start(patient_id: str = "patient-1", key: str = "key-1", slot_id: str = "slot-1"):
    return StartCheckout(patient_id, key, slot_id, PaymentMethod.GATEWAY)


async def started(uow, payments=None, **command):
    ctx = context(uow, payments)
    return await checkouts.start_checkout(ctx, uow, start(**command))


def confirmed(checkout, *, at=NOW, amount=None) -> PaymentConfirmed:
    return PaymentConfirmed(checkout.id, ConfirmedPayment(checkout.payment_id, amount or FEE, at))


def failed(checkout, failure) -> PaymentFailed:
    return PaymentFailed(checkout.id, failure, checkout.payment_id, None, NOW)


async def test_a_checkout_holds_the_slot_and_asks_payment_for_the_doctors_fee():
    uow, payments = booking_unit(a_doctor(), a_slot()), Payments()
    checkout = await started(uow, payments)
    (order,) = payments.orders
    assert (order.purchase_kind, order.purchase_ref, order.amount_minor) == (
        "booking",
        checkout.id,
        FEE.amount_minor,
    )
    assert order.doctor_id == "doctor-1" and order.expires_at == NOW + HOLD
    slot = await uow.slots.get("slot-1")
    assert slot.hold.checkout_id == checkout.id and slot.hold.expires_at == NOW + HOLD
    assert (await uow.checkouts.get(checkout.id)).payment_id == payments.orders[
        0
    ].purchase_ref.join(["payment-", ""])


async def test_the_same_key_again_is_the_same_checkout_and_one_payment():
    uow, payments = booking_unit(a_doctor(), a_slot()), Payments()
    first = await started(uow, payments)
    again = await started(uow, payments)
    assert again.id == first.id and len(payments.orders) == 1
    assert [c.id for c in uow.checkouts.all()] == [first.id]


async def test_a_key_that_looks_like_another_patients_id_is_still_the_patients_own_checkout():
    uow = booking_unit(a_doctor(), a_slot("slot-1"), a_slot("slot-2", timedelta(days=3)))
    mine = await started(uow, patient_id="a", key="b/c", slot_id="slot-1")
    theirs = await started(uow, patient_id="a/b", key="c", slot_id="slot-2")
    assert mine.id != theirs.id
    assert (theirs.patient_id, theirs.slot_id) == ("a/b", "slot-2")
    assert (await uow.slots.get("slot-2")).hold.checkout_id == theirs.id


async def test_another_patient_cannot_take_a_held_slot_and_nothing_is_stored():
    uow = booking_unit(a_doctor(), a_slot())
    await started(uow)
    before = (uow.slots.all(), uow.checkouts.all())
    with pytest.raises(SlotAlreadyHeld):
        await started(uow, patient_id="patient-2")
    assert (uow.slots.all(), uow.checkouts.all()) == before


async def test_an_unknown_slot_is_not_found():
    uow = booking_unit(a_doctor())
    with pytest.raises(SlotNotFound):
        await started(uow)
    assert uow.checkouts.all() == [] and uow.commits == 0


async def test_payment_unreachable_leaves_the_slot_free_and_no_checkout():
    uow = booking_unit(a_doctor(), a_slot())
    with pytest.raises(ConnectionError):
        await started(uow, Payments(down=ConnectionError("payment is down")))
    assert (await uow.slots.get("slot-1")).hold is None
    assert uow.checkouts.all() == []


async def test_a_wallet_too_short_fails_the_checkout_and_the_slot_stays_held_for_a_retry():
    short = Failure("INSUFFICIENT_WALLET_BALANCE", "wallet too short", retryable=True)
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow, Payments(failure=short))
    assert checkout.status is CheckoutStatus.PAYMENT_FAILED
    assert (await uow.slots.get("slot-1")).hold.checkout_id == checkout.id


async def test_a_confirmed_payment_becomes_one_reservation_however_often_it_is_told():
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    ctx = context(uow, now=NOW + timedelta(minutes=2))
    news = confirmed(checkout, at=NOW + timedelta(minutes=1))
    await checkouts.payment_confirmed(ctx, uow, news)
    await checkouts.payment_confirmed(ctx, uow, news)
    (reservation,) = uow.reservations.all()
    assert reservation.patient_id == "patient-1" and reservation.price == FEE
    assert (await uow.slots.get("slot-1")).status(ctx.clock()) is SlotStatus.BOOKED
    assert len(uow.of(ReservationConfirmed)) == 1
    assert [f.payment_id for f in uow.of(PurchaseFulfilled)] == [checkout.payment_id]


async def test_a_payment_for_a_slot_taken_meanwhile_is_refunded_in_full():
    uow = booking_unit(a_doctor(), a_slot())
    late = await started(uow)
    lapsed = NOW + HOLD + timedelta(minutes=1)
    await checkouts.expire_checkout(context(uow, now=lapsed), uow, ExpireCheckout(late.id))
    other = await checkouts.start_checkout(
        context(uow, now=lapsed), uow, start(patient_id="patient-2", key="key-2")
    )
    await checkouts.payment_confirmed(context(uow, now=lapsed), uow, confirmed(late, at=lapsed))
    (rejected,) = uow.of(PurchaseRejected)
    assert (rejected.payment_id, rejected.reason) == (late.payment_id, "slot_taken")
    assert uow.reservations.all() == []
    assert (await uow.slots.get("slot-1")).hold.checkout_id == other.id


async def test_a_payment_of_the_wrong_amount_is_refunded_and_books_nothing():
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    short = replace(FEE, amount_minor=FEE.amount_minor - 1)
    await checkouts.payment_confirmed(context(uow), uow, confirmed(checkout, amount=short))
    assert [r.reason for r in uow.of(PurchaseRejected)] == ["amount_mismatch"]
    assert uow.reservations.all() == []


async def test_news_of_a_checkout_still_committing_is_redelivered_then_refunded():
    uow = booking_unit(a_doctor(), a_slot())
    news = PaymentConfirmed("never-stored", ConfirmedPayment("payment-x", FEE, NOW))
    with pytest.raises(CheckoutNotYetVisible):
        await checkouts.payment_confirmed(context(uow, now=NOW + timedelta(seconds=5)), uow, news)
    assert uow.published == []
    await checkouts.payment_confirmed(context(uow, now=NOW + timedelta(minutes=2)), uow, news)
    (rejection,) = uow.of(events_pb2.PurchaseRejected)
    assert (rejection.payment_id, rejection.reason) == ("payment-x", UNKNOWN_CHECKOUT)


async def test_a_declined_card_keeps_the_hold_for_a_retry():
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    await checkouts.payment_failed(context(uow), uow, failed(checkout, DECLINED))
    assert (await uow.slots.get("slot-1")).hold.checkout_id == checkout.id


async def test_a_final_failure_frees_the_slot():
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    final = replace(DECLINED, retryable=False)
    await checkouts.payment_failed(context(uow), uow, failed(checkout, final))
    assert (await uow.slots.get("slot-1")).hold is None
    assert (await uow.checkouts.get(checkout.id)).status is CheckoutStatus.PAYMENT_FAILED


async def test_a_retry_asks_payment_for_a_new_attempt_on_the_same_payment():
    """...which keeps the return URL the intent was opened with ("" asks for that),
    rather than sending the patient back to the service's default."""
    uow, payments = booking_unit(a_doctor(), a_slot()), Payments()
    checkout = await started(uow, payments)
    declined = failed(checkout, DECLINED)
    await checkouts.payment_failed(context(uow), uow, declined)
    again = RetryCheckout(checkout.id, viewer="patient-1")
    settings = BookingSettings(default_return_url="https://app.clinic.example/booking")
    ctx = replace(context(uow, payments), settings=settings)
    retried = await checkouts.retry_checkout(ctx, uow, again)
    key = f"{checkout.id}/attempt/2"
    assert payments.retries == [(checkout.payment_id, key, "gateway", "")]
    assert retried.attempt == 2 and retried.status is CheckoutStatus.AWAITING_PAYMENT


async def test_another_patients_checkout_is_not_found():
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    with pytest.raises(CheckoutNotFound):
        await views.checkout(uow, checkout.id, "patient-2")


async def test_the_sweeper_expires_only_lapsed_holds_and_frees_their_slots():
    uow = booking_unit(a_doctor(), a_slot(), a_slot("slot-2"))
    lapsing = await started(uow)
    later = NOW + timedelta(minutes=5)
    await checkouts.start_checkout(
        context(uow, now=later), uow, start(key="key-2", slot_id="slot-2")
    )
    await checkouts.expire_lapsed_checkouts(context(uow, now=NOW + HOLD))
    assert (await uow.checkouts.get(lapsing.id)).status is CheckoutStatus.EXPIRED
    assert (await uow.slots.get("slot-1")).hold is None
    assert (await uow.slots.get("slot-2")).hold is not None


async def test_an_expired_payment_puts_the_slot_back_on_sale():
    uow = booking_unit(a_doctor(), a_slot())
    checkout = await started(uow)
    news = PaymentExpired(checkout.id, NOW + HOLD)
    await checkouts.payment_expired(context(uow, now=NOW + HOLD), uow, news)
    assert (await uow.slots.get("slot-1")).hold is None


async def test_a_patients_early_cancellation_frees_the_slot_and_asks_for_a_full_refund():
    reservation, slot = a_reservation()
    uow = booking_unit(a_doctor(), slot, reservation)
    mine = Viewer(patient_id="patient-1")
    command = CancelReservation(reservation.id, CancelledBy.PATIENT, "feeling better", mine)
    await reservations.cancel_reservation(context(uow), uow, command)
    (refund,) = uow.of(RefundRequested)
    assert (refund.amount, refund.reason) == (FEE, "reservation_cancelled")
    assert len(uow.of(ReservationCancelled)) == 1
    assert (await uow.slots.get(slot.id)).reservation_id is None


async def test_a_reschedule_cancels_the_old_reservation_only_once_the_new_one_is_paid():
    reservation, old_slot = a_reservation()
    uow = booking_unit(a_doctor(), old_slot, reservation, a_slot("slot-2", timedelta(days=4)))
    command = RescheduleReservation(
        "patient-1", "move-1", reservation.id, "slot-2", PaymentMethod.GATEWAY
    )
    checkout = await reservations.reschedule_reservation(context(uow), uow, command)
    assert (await uow.reservations.get(reservation.id)).cancellation is None
    await checkouts.payment_confirmed(context(uow), uow, confirmed(checkout))
    moved = await uow.reservations.get(reservation.id)
    assert moved.cancellation is not None
    assert (await uow.slots.get(old_slot.id)).reservation_id is None
    assert len(uow.reservations.all()) == 2


async def test_a_new_doctor_is_announced_and_a_second_with_the_same_id_refused():
    uow = booking_unit()
    doctor = a_doctor()
    command = doctors.CreateDoctor(
        doctor.id, doctor.display_name, doctor.specialty, doctor.time_zone, FEE
    )
    await doctors.create_doctor(context(uow), uow, command)
    with pytest.raises(DoctorAlreadyExists):
        await doctors.create_doctor(context(uow), uow, command)
    assert [e.doctor_id for e in uow.of(DoctorUpdated)] == [doctor.id]


async def test_a_weekly_pattern_makes_its_slots_once_however_often_it_is_set():
    uow = booking_unit(a_doctor())
    mornings = WeeklyAvailability(
        windows=(AvailabilityWindow(Weekday.MONDAY, time(9), time(11)),),
        slot_length=timedelta(minutes=30),
    )
    command = doctors.SetWeeklyAvailability(
        "doctor-1", mornings, date(2025, 3, 10), date(2025, 3, 16)
    )
    change = await doctors.set_weekly_availability(context(uow), uow, command)
    again = await doctors.set_weekly_availability(context(uow), uow, command)
    assert (change.created, again.created, again.removed) == (4, 0, 0)
    assert len(uow.slots.all()) == 4
    assert (await uow.availabilities.get("doctor-1")).last_date == date(2025, 3, 16)
