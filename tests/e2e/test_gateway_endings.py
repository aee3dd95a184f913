"""The hosted page's other endings, end to end: a bank debit the bank settles later (in
time, refused, or after the hold lapsed) and a 3-D Secure challenge passed or failed.
Each ends with every invariant `nobat check` knows holding."""

from __future__ import annotations

import aiohttp
import grpc
import pytest
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.payment.v1 import payment_service_pb2 as ppb

from tests.e2e.flows import (
    AWAITING,
    CONFIRMED,
    EXPIRED,
    FAILED,
    QUICK_JOBS,
    REFUNDED,
    Caller,
    payment_of,
    refusal,
    running_stack,
    session_of,
    settled,
)
from tests.e2e.test_booking_flows import reservations_of
from tests.instants import NEW_YEARS_EVE
from tests.processes import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack():
    with running_stack(NEW_YEARS_EVE, NOBAT_BOOKING_HOLD_SECONDS="6", **QUICK_JOBS) as stack:
        yield stack


async def booked(nobat) -> tuple[Caller, bpb.Checkout]:
    """A new patient, and their checkout of a new doctor's first free slot."""
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()
    return patient, await nobat.book(patient, slot.id)


async def test_a_bank_debit_keeps_the_slot_waiting_then_books_it_once_when_the_bank_pays(
    nobat, stack
):
    patient, checkout = await booked(nobat)
    # Every event twice, and each session's held back until it settles, then sent
    # newest first: async_payment_succeeded arrives before checkout.session.completed.
    await nobat.sandbox.switches(duplicate=2, reverse=True)
    try:
        await nobat.sandbox.pay_later(session_of(checkout))
        waiting = await nobat.checkout_until(patient, checkout.id, AWAITING)
        code, _, _ = await refusal(nobat.retry(patient, checkout.id))
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        payment = await payment_of(nobat, checkout.payment_id)
        assert payment.status == ppb.PAYMENT_STATUS_PROCESSING
        assert waiting.status == AWAITING and await reservations_of(patient) == []

        await nobat.sandbox.settle(session_of(checkout), "succeeded")
        confirmed = await nobat.checkout_until(patient, checkout.id, CONFIRMED)
    finally:
        await nobat.sandbox.reset()
    await nobat.sandbox.resend(session_of(checkout))

    [reservation] = await reservations_of(patient)
    assert reservation.id == confirmed.reservation_id
    await settled(stack)
    assert len(await reservations_of(patient)) == 1


async def test_a_bank_debit_the_bank_refuses_books_nothing_and_the_patient_pays_again(nobat, stack):
    patient, checkout = await booked(nobat)

    await nobat.sandbox.pay_later(session_of(checkout))
    await nobat.sandbox.settle(session_of(checkout), "failed")
    failed = await nobat.checkout_until(patient, checkout.id, FAILED)
    assert failed.payment_failure.retryable
    assert await reservations_of(patient) == []
    await nobat.sandbox.resend(session_of(checkout))

    retried = await nobat.retry(patient, checkout.id)
    await nobat.pay(retried)
    await nobat.checkout_until(patient, checkout.id, CONFIRMED)
    assert len(await reservations_of(patient)) == 1
    await settled(stack)


async def test_a_bank_debit_paid_after_the_hold_lapsed_and_the_slot_was_taken_is_refunded(
    nobat, stack
):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    slow, quick = nobat.patient(), nobat.patient()
    debit = await nobat.book(slow, slot.id)
    await nobat.sandbox.pay_later(session_of(debit))

    await nobat.checkout_until(slow, debit.id, EXPIRED, timeout=40)
    taken = await nobat.book(quick, slot.id)
    await nobat.pay(taken)
    await nobat.checkout_until(quick, taken.id, CONFIRMED)
    await nobat.sandbox.settle(session_of(debit), "succeeded")

    refunded = await nobat.checkout_until(slow, debit.id, REFUNDED)
    assert refunded.refund_reason == bpb.REFUND_REASON_SLOT_TAKEN
    assert await reservations_of(slow) == []

    async def refunded_in_full() -> bool:
        return (await payment_of(nobat, debit.payment_id)).status == ppb.PAYMENT_STATUS_REFUNDED

    await eventually(refunded_in_full, 30, "the late debit refunded in full")
    await settled(stack)


async def test_a_3d_secure_challenge_passed_on_the_hosted_page_books_the_slot(nobat, stack):
    patient, checkout = await booked(nobat)

    async with aiohttp.ClientSession() as browser:
        async with browser.post(f"{checkout.checkout_url}/challenge") as challenged:
            page = await challenged.text()
        assert "Complete authentication" in page
        async with browser.post(
            f"{checkout.checkout_url}/authenticate",
            data={"result": "pass"},
            allow_redirects=False,
        ) as passed:
            assert passed.status == 303

    await nobat.checkout_until(patient, checkout.id, CONFIRMED)
    assert len(await reservations_of(patient)) == 1
    await settled(stack)


async def test_a_failed_3d_secure_challenge_may_be_retried_and_pays_once(nobat, stack):
    patient, checkout = await booked(nobat)

    await nobat.sandbox.challenge(session_of(checkout))
    await nobat.sandbox.authenticate(session_of(checkout), passed=False)
    failed = await nobat.checkout_until(patient, checkout.id, FAILED)
    assert failed.payment_failure.retryable
    assert failed.payment_failure.code == "payment_intent_authentication_failure"
    assert await reservations_of(patient) == []

    retried = await nobat.retry(patient, checkout.id)
    assert retried.checkout_url != checkout.checkout_url
    await nobat.sandbox.challenge(session_of(retried))
    await nobat.sandbox.authenticate(session_of(retried), passed=True)
    await nobat.checkout_until(patient, checkout.id, CONFIRMED)

    assert len(await reservations_of(patient)) == 1
    await settled(stack)
    # Nothing was taken on the first page: the challenge failed before any charge.
    assert (await nobat.sandbox.session(session_of(checkout)))["charges"] == 0
