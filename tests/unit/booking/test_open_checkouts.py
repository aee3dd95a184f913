"""The cap on a patient's open checkouts, on booking's handlers: a patient at the cap is
refused another checkout with when to try again, and nothing is held or asked of payment;
a checkout that is paid, lapses or fails for good makes room."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from purchasing.checkout import CheckoutStatus, ConfirmedPayment, PaymentMethod
from purchasing.errors import TooManyOpenCheckouts
from purchasing.news import PaymentConfirmed, PaymentFailed
from runtime import rpc
from services.booking.handlers import checkouts, reservations
from services.booking.handlers.checkouts import StartCheckout
from services.booking.handlers.context import BookingSettings
from services.booking.handlers.reservations import RescheduleReservation
from tests.unit.booking.builders import DECLINED, FEE, NOW, a_doctor, a_reservation, a_slot
from tests.unit.booking.fakes import Payments, booking_unit, context

HOLD = timedelta(minutes=10)
CAP = 2


def slots(count: int = 4):
    return [a_slot(f"slot-{n}", timedelta(days=2, hours=n)) for n in range(1, count + 1)]


def capped(uow, payments: Payments, *, now=NOW):
    settings = BookingSettings(max_open_checkouts=CAP)
    return replace(context(uow, payments, now=now), settings=settings)


async def start(uow, payments, n: int, *, now=NOW, key: str | None = None):
    command = StartCheckout("patient-1", key or f"key-{n}", f"slot-{n}", PaymentMethod.GATEWAY)
    return await checkouts.start_checkout(capped(uow, payments, now=now), uow, command)


async def at_the_cap():
    uow, payments = booking_unit(a_doctor(), *slots()), Payments()
    first = await start(uow, payments, 1)
    second = await start(uow, payments, 2, now=NOW + timedelta(minutes=3))
    return uow, payments, first, second


async def test_a_patient_at_the_cap_is_refused_until_the_first_hold_ends_and_nothing_is_held():
    uow, payments, first, _ = await at_the_cap()
    later = NOW + timedelta(minutes=4)

    with pytest.raises(TooManyOpenCheckouts) as refused:
        await start(uow, payments, 3, now=later)

    assert refused.value.retry_after == first.expires_at - later == HOLD - timedelta(minutes=4)
    assert refused.value.message.startswith("patient has 2 open checkouts")
    assert (await uow.slots.get("slot-3")).hold is None
    assert len(uow.checkouts.all()) == 2 and len(payments.orders) == 2


async def test_another_patient_is_not_counted_against_the_cap():
    uow, payments, _, _ = await at_the_cap()
    command = StartCheckout("patient-2", "key-3", "slot-3", PaymentMethod.GATEWAY)

    theirs = await checkouts.start_checkout(capped(uow, payments), uow, command)

    assert theirs.patient_id == "patient-2" and len(payments.orders) == 3


async def test_the_same_checkout_asked_for_again_at_the_cap_is_answered_not_refused():
    uow, payments, first, _ = await at_the_cap()

    again = await start(uow, payments, 1, key="another-key-for-slot-1")

    assert again.id == first.id and len(payments.orders) == 2


async def test_a_paid_checkout_makes_room_for_another():
    uow, payments, first, _ = await at_the_cap()
    paid = PaymentConfirmed(first.id, ConfirmedPayment(first.payment_id, FEE, NOW))
    await checkouts.payment_confirmed(capped(uow, payments), uow, paid)

    third = await start(uow, payments, 3)

    assert third.status is CheckoutStatus.AWAITING_PAYMENT
    assert (await uow.slots.get("slot-3")).hold.checkout_id == third.id


async def test_a_lapsed_hold_makes_room_even_before_the_sweeper_expires_its_checkout():
    uow, payments, first, _ = await at_the_cap()

    third = await start(uow, payments, 3, now=first.expires_at)

    assert third.status is CheckoutStatus.AWAITING_PAYMENT
    assert (await uow.checkouts.get(first.id)).status is CheckoutStatus.AWAITING_PAYMENT


async def test_a_failure_that_cannot_be_retried_makes_room():
    uow, payments, first, _ = await at_the_cap()
    final = PaymentFailed(first.id, replace(DECLINED, retryable=False), None, None, NOW)
    await checkouts.payment_failed(capped(uow, payments), uow, final)

    assert (await start(uow, payments, 3)).status is CheckoutStatus.AWAITING_PAYMENT


async def test_a_failure_the_patient_may_retry_still_counts():
    uow, payments, first, _ = await at_the_cap()
    declined = PaymentFailed(first.id, DECLINED, None, None, NOW)
    await checkouts.payment_failed(capped(uow, payments), uow, declined)

    with pytest.raises(TooManyOpenCheckouts):
        await start(uow, payments, 3)


async def test_a_reschedule_opens_a_checkout_and_is_refused_at_the_cap_too():
    reservation, old_slot = a_reservation("old", timedelta(days=5))
    uow, payments = booking_unit(a_doctor(), old_slot, reservation, *slots()), Payments()
    await start(uow, payments, 1)
    await start(uow, payments, 2)
    command = RescheduleReservation(
        "patient-1", "move", reservation.id, "slot-3", PaymentMethod.GATEWAY
    )

    with pytest.raises(TooManyOpenCheckouts):
        await reservations.reschedule_reservation(capped(uow, payments), uow, command)

    assert (await uow.slots.get("slot-3")).hold is None and len(payments.orders) == 2


async def test_the_refusal_reaches_the_caller_as_resource_exhausted_with_when_to_retry():
    uow, payments, _, _ = await at_the_cap()
    with pytest.raises(TooManyOpenCheckouts) as refused:
        await start(uow, payments, 3, now=NOW + timedelta(minutes=4))

    status = rpc.to_status(refused.value, "booking")

    assert status.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    details = status_pb2.Status.FromString(
        dict(status.trailing_metadata)["grpc-status-details-bin"]
    ).details
    retry, quota = error_details_pb2.RetryInfo(), error_details_pb2.QuotaFailure()
    assert any(d.Unpack(retry) for d in details) and any(d.Unpack(quota) for d in details)
    assert retry.retry_delay.ToTimedelta() == timedelta(minutes=6)
    assert [v.subject for v in quota.violations] == ["patient:patient-1"]
