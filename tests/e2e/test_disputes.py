"""Disputes and early fraud warnings end to end: the sandbox stands in for the patient's
bank (its control API), payment hears of it by webhook, and admins see the case. Each
test ends with `nobat check` clean."""

from __future__ import annotations

import pytest
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.payment.v1 import payment_service_pb2 as ppb

from tests.e2e.flows import (
    CONFIRMED,
    QUICK_JOBS,
    payment_of,
    running_stack,
    session_of,
    settled,
)
from tests.e2e.test_consultation_flows import paid_session, prices
from tests.instants import NEW_YEARS_EVE
from tests.processes import eventually

pytestmark = pytest.mark.e2e

OPEN, WON, LOST = ppb.DISPUTE_STATUS_OPEN, ppb.DISPUTE_STATUS_WON, ppb.DISPUTE_STATUS_LOST
HELD, RELEASED = ppb.PAYOUT_STATUS_HELD, ppb.PAYOUT_STATUS_RELEASED
REVERSED = ppb.PAYOUT_STATUS_REVERSED
DISPUTED = ppb.LEDGER_ACCOUNT_KIND_DISPUTED
LOSSES = ppb.LEDGER_ACCOUNT_KIND_DISPUTE_LOSSES


@pytest.fixture(scope="module")
def stack():
    # Payouts held for 3 seconds, so a test sees one released, or held past its date.
    with running_stack(NEW_YEARS_EVE, NOBAT_PAYOUT_HOLD_SECONDS="3", **QUICK_JOBS) as stack:
        yield stack


async def paid_booking(nobat) -> tuple[str, bpb.Checkout]:
    """A new doctor and a patient's paid booking: (doctor, checkout), once confirmed."""
    doctor = await nobat.new_doctor()
    patient = nobat.patient()
    return doctor, await nobat.paid_checkout(patient, doctor)


async def dispute_of(nobat, payment_id: str, *statuses: int) -> ppb.Dispute:
    """The payment's one dispute, once it is in one of `statuses`."""
    found: list[ppb.Dispute] = []

    async def reached() -> bool:
        reply = await nobat.admin().payment.ListDisputes(
            ppb.ListDisputesRequest(payment_id=payment_id)
        )
        found[:] = reply.disputes
        return len(found) == 1 and found[0].status in statuses

    await eventually(reached, 30, f"the dispute of {payment_id} in {statuses}")
    return found[0]


async def payout_of(nobat, doctor: str) -> ppb.Payout:
    reply = await nobat.admin().payment.ListPayouts(ppb.ListPayoutsRequest(doctor_id=doctor))
    [payout] = reply.payouts
    return payout


async def payout_until(nobat, doctor: str, status: int) -> ppb.Payout:
    async def reached() -> bool:
        return (await payout_of(nobat, doctor)).status == status

    await eventually(reached, 30, f"{doctor}'s payout {ppb.PayoutStatus.Name(status)}")
    return await payout_of(nobat, doctor)


async def on_account(nobat, payment_id: str, kind: int) -> int:
    reply = await nobat.admin().payment.ListLedgerEntries(
        ppb.ListLedgerEntriesRequest(payment_id=payment_id, page_size=100)
    )
    return sum(e.amount.amount_minor for e in reply.entries if e.account.kind == kind)


async def entries(nobat, payment_id: str) -> int:
    reply = await nobat.admin().payment.ListLedgerEntries(
        ppb.ListLedgerEntriesRequest(payment_id=payment_id, page_size=100)
    )
    return len(reply.entries)


async def test_a_won_dispute_holds_the_payout_past_its_date_then_gives_the_money_back(nobat, stack):
    doctor, checkout = await paid_booking(nobat)
    opened = await nobat.sandbox.dispute(session_of(checkout), reason="fraudulent")
    dispute = await dispute_of(nobat, checkout.payment_id, OPEN)
    assert (dispute.gateway_ref, dispute.reason) == (opened["id"], "fraudulent")
    assert dispute.amount.amount_minor == 50_000 and dispute.funds_withdrawn
    assert await on_account(nobat, checkout.payment_id, DISPUTED) == 50_000
    # Another doctor paid later has a later release date: once that payout is released,
    # the disputed one's date has passed too, and the release job has been by.
    later_doctor, _ = await paid_booking(nobat)
    await payout_until(nobat, later_doctor, RELEASED)
    assert (await payout_of(nobat, doctor)).status == HELD

    await nobat.sandbox.close_dispute(opened["id"], "won")

    assert (await dispute_of(nobat, checkout.payment_id, WON)).closed_at.seconds
    await payout_until(nobat, doctor, RELEASED)
    assert await on_account(nobat, checkout.payment_id, DISPUTED) == 0
    await settled(stack)


async def test_a_lost_dispute_reverses_the_payout_and_books_the_loss_once(nobat, stack):
    doctor, checkout = await paid_booking(nobat)
    session = session_of(checkout)
    # Every webhook from here on delivered three times.
    await nobat.sandbox.switches(duplicate=3)
    try:
        opened = await nobat.sandbox.dispute(session, reason="product_not_received")
        await dispute_of(nobat, checkout.payment_id, OPEN)
        await nobat.sandbox.close_dispute(opened["id"], "lost")
        await dispute_of(nobat, checkout.payment_id, LOST)
    finally:
        await nobat.sandbox.reset()
    payout = await payout_until(nobat, doctor, REVERSED)
    written = await entries(nobat, checkout.payment_id)
    # And the gateway's dashboard sends every event of the session again.
    await nobat.sandbox.resend(session)
    await settled(stack)

    assert payout.net.amount_minor == 0
    assert await entries(nobat, checkout.payment_id) == written
    assert await on_account(nobat, checkout.payment_id, DISPUTED) == 0
    loss = await on_account(nobat, checkout.payment_id, LOSSES)
    assert 0 < loss < 50_000  # the platform's share; the doctor's net was taken back
    assert (await payout_of(nobat, doctor)).status == REVERSED


async def test_an_early_fraud_warning_is_recorded_and_refunds_the_payment(nobat, stack):
    _, checkout = await paid_booking(nobat)
    warning = await nobat.sandbox.warn_of_fraud(session_of(checkout))
    service = nobat.admin()

    async def refunded() -> bool:
        payment = await payment_of(nobat, checkout.payment_id)
        return payment.status == ppb.PAYMENT_STATUS_REFUNDED

    await eventually(refunded, 30, "the warned payment refunded")
    [recorded] = await nobat.rows(
        "payment",
        "SELECT fraud_type, refund_id <> '' FROM fraud_warnings WHERE gateway_ref = :id",
        id=warning["id"],
    )
    assert tuple(recorded) == ("made_with_stolen_card", True)
    events = await service.payment.ListPaymentEvents(
        ppb.ListPaymentEventsRequest(payment_id=checkout.payment_id)
    )
    assert [e.reason for e in events.events if e.action == "refund"] == ["fraud_warning"]
    await settled(stack)


async def test_a_booking_refunded_for_a_fraud_warning_is_cancelled_and_its_slot_sold_again(
    nobat, stack
):
    doctor, checkout = await paid_booking(nobat)
    admin = nobat.admin()
    await nobat.sandbox.warn_of_fraud(session_of(checkout))
    found: list[bpb.Reservation] = []

    async def cancelled() -> bool:
        reply = await admin.booking.GetReservation(
            bpb.GetReservationRequest(reservation_id=checkout.reservation_id)
        )
        found[:] = [reply.reservation]
        return reply.reservation.status == bpb.RESERVATION_STATUS_CANCELLED

    await eventually(cancelled, 30, "the reservation of the warned payment cancelled")
    [reservation] = found
    assert reservation.cancellation.cancelled_by == bpb.CANCELLED_BY_PAYMENT
    assert reservation.cancellation.reason == "fraud_warning"
    # Booking asked for no refund of its own: payment's one refund is all there is.
    payment = await payment_of(nobat, checkout.payment_id)
    assert [r.reason for r in payment.refunds] == ["fraud_warning"]
    # The slot is for sale again, and another patient books and pays for it.
    assert reservation.slot_id in [slot.id for slot in await nobat.free_slots(doctor)]
    other = nobat.patient()
    again = await nobat.book(other, reservation.slot_id)
    await nobat.pay(again)
    assert (await nobat.checkout_until(other, again.id, CONFIRMED)).reservation_id
    await settled(stack)


async def test_a_consultation_refunded_for_a_fraud_warning_takes_no_symptoms(nobat, stack):
    await prices(nobat)
    patient = nobat.patient()
    checkout = await paid_session(nobat, patient)
    await nobat.sandbox.warn_of_fraud(session_of(checkout))

    async def ended() -> bool:
        reply = await patient.consultation.GetClinicalSession(
            cpb.GetClinicalSessionRequest(clinical_session_id=checkout.clinical_session_id)
        )
        return reply.clinical_session.status == cpb.CLINICAL_SESSION_STATUS_EXPIRED

    await eventually(ended, 30, "the session of the warned payment ended")
    await settled(stack)
