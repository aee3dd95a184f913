"""A patient always finds what they paid for, and every payment action is on record: the
payment's trail as ListPaymentEvents shows it (an admin's refund, a patient's
confirmation), checkouts and clinical sessions found again from another device, the
"send your symptoms by …" notification, and a paid consultation cancelled before any
doctor took it, refunded in full with the ledger balanced; over all four services as
processes.
"""

from __future__ import annotations

from functools import partial

import grpc
import pytest
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.notification.v1 import notification_service_pb2 as npb
from nobat.notification.v1 import notification_service_pb2_grpc
from nobat.payment.v1 import payment_service_pb2 as ppb

from tests.component.payment.harness import PaymentApi
from tests.e2e.flows import Nobat, key, refusal, running_stack, settled
from tests.e2e.test_consultation_flows import coughing, doctor_on_shift, paid_session
from tests.e2e.test_consultation_outcomes import (
    HELD,
    MOVED,
    REVIEW,
    consultation_for,
    consulting,
    payouts_of,
    payouts_until,
    refunded_in_full_once,
    until,
)
from tests.instants import THURSDAY_NIGHT

pytestmark = pytest.mark.e2e

NOT_FOUND = grpc.StatusCode.NOT_FOUND
REVERSED = ppb.PAYOUT_STATUS_REVERSED
AWAITING = checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT
CONFIRMED = checkout_pb2.CHECKOUT_STATUS_CONFIRMED


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        THURSDAY_NIGHT,
        NOBAT_CONSULTATION_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS="1",
    ) as stack:
        yield stack


@pytest.fixture
async def nobat(stack):
    async with consulting(stack) as nobat:
        yield nobat


async def trail(caller, payment_id: str) -> list[ppb.PaymentEvent]:
    request = ppb.ListPaymentEventsRequest(payment_id=payment_id, page_size=100)
    return list((await caller.payment.ListPaymentEvents(request)).events)


async def test_an_admins_refund_and_a_patients_confirm_are_on_the_trail_only_they_may_read(
    nobat,
):
    patient = nobat.patient()
    checkout = await paid_session(nobat, patient)
    await patient.payment.ConfirmPayment(
        ppb.ConfirmPaymentRequest(idempotency_key=key(), payment_id=checkout.payment_id)
    )
    goodwill = money_pb2.Money(amount_minor=500, currency="USD")
    await nobat.admin().payment.RefundPayment(
        ppb.RefundPaymentRequest(
            idempotency_key=key(),
            payment_id=checkout.payment_id,
            amount=goodwill,
            reason="admin_goodwill",
        )
    )

    events = await trail(patient, checkout.payment_id)

    first = events[0]
    assert (first.action, first.actor_id, first.actor_role) == ("create", "consultation", "service")
    statuses = [e.status for e in events]
    assert ppb.PAYMENT_STATUS_SUCCEEDED in statuses
    # The gateway's refund may still be on its way: pending, or done.
    pending_or_done = (ppb.PAYMENT_STATUS_REFUND_PENDING, ppb.PAYMENT_STATUS_PARTIALLY_REFUNDED)
    assert statuses[-1] in pending_or_done
    [confirm] = [e for e in events if e.action == "confirm"]
    assert (confirm.actor_id, confirm.actor_role) == (patient.subject, "patient")
    assert "127.0.0.1" in confirm.client_address and "grpc" in confirm.user_agent
    [refund] = [e for e in events if e.action == "refund"]
    assert (refund.actor_id, refund.actor_role, refund.reason) == (
        "ops",
        "admin",
        "admin_goodwill",
    )
    assert "127.0.0.1" in refund.client_address
    # What the gateway and payment's own jobs did carries their names, and no address.
    assert {e.actor_role for e in events if not e.client_address} <= {"system", "service"}
    # The admin reads the same trail; another patient finds no such payment.
    assert await trail(nobat.admin(), checkout.payment_id) == events
    assert (await refusal(trail(nobat.patient(), checkout.payment_id)))[0] == NOT_FOUND
    code, fields, _ = await refusal(trail(patient, "not-an-id"))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["payment_id"])


async def test_a_patient_on_another_device_finds_their_open_checkout_and_paid_session(nobat):
    patient = nobat.patient()
    _, unpaid = await nobat.chat_checkout(patient, coughing())
    paid = await paid_session(nobat, patient)
    [slot, *_] = await nobat.free_slots(await nobat.new_doctor(days=1))
    booking = await nobat.book(patient, slot.id)

    # Another device: a new connection and a new token for the same patient.
    elsewhere = Nobat(nobat.stack)
    try:
        again = elsewhere.patient(patient.subject)
        listed = await again.consultation.ListCheckouts(cpb.ListCheckoutsRequest())
        booked = await again.booking.ListCheckouts(bpb.ListCheckoutsRequest(status=AWAITING))
        open_only = await again.consultation.ListCheckouts(
            cpb.ListCheckoutsRequest(status=AWAITING)
        )
        sessions = await again.consultation.ListClinicalSessions(
            cpb.ListClinicalSessionsRequest(status=cpb.CLINICAL_SESSION_STATUS_AWAITING_SYMPTOMS)
        )
    finally:
        await elsewhere.close()

    # Newest first: the paid one was started after the unpaid one.
    assert [(c.id, c.status) for c in listed.checkouts] == [
        (paid.id, CONFIRMED),
        (unpaid.id, AWAITING),
    ]
    assert [c.id for c in open_only.checkouts] == [unpaid.id]
    assert [(c.id, c.slot_id) for c in booked.checkouts] == [(booking.id, slot.id)]
    assert [s.id for s in sessions.clinical_sessions] == [paid.clinical_session_id]
    stranger = nobat.patient()
    nothing = await stranger.consultation.ListCheckouts(cpb.ListCheckoutsRequest())
    assert list(nothing.checkouts) == []
    code, fields, _ = await refusal(
        patient.consultation.ListCheckouts(cpb.ListCheckoutsRequest(page_size=-1))
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])


async def test_a_paid_consultation_asks_the_patient_for_symptoms_by_its_deadline(nobat):
    patient = nobat.patient()
    checkout = await paid_session(nobat, patient)
    stub = notification_service_pb2_grpc.NotificationServiceStub(nobat.channel("notification"))
    inbox = PaymentApi(stub, patient.metadata)

    async def notifications() -> list[npb.Notification]:
        reply = await inbox.ListNotifications(npb.ListNotificationsRequest(page_size=100))
        return list(reply.notifications)

    found = await until(
        notifications,
        lambda found: any(n.kind == npb.NOTIFICATION_KIND_SYMPTOMS_DUE for n in found),
        "the symptoms-due notification",
    )
    [due] = [n for n in found if n.kind == npb.NOTIFICATION_KIND_SYMPTOMS_DUE]
    assert due.subject_id == checkout.clinical_session_id
    # In the patient's language, Persian until they choose another: paid, the kind of
    # consultation, and that the money goes back without symptoms by the deadline.
    assert "پرداخت دریافت شد" in due.title
    assert "متنی" in due.body and "بازگردانده" in due.body


async def test_a_patient_cancels_a_paid_consultation_before_acceptance_for_a_full_refund(
    nobat, stack
):
    doctor_id = await doctor_on_shift(nobat)
    patient, checkout, consultation = await consultation_for(nobat)
    assert (consultation.status, consultation.doctor_id) == (REVIEW, doctor_id)
    await payouts_until(nobat, doctor_id, checkout.payment_id, [HELD])

    def cancel(caller):
        return caller.consultation.CancelConsultation(
            cpb.CancelConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
        )

    assert (await refusal(cancel(nobat.patient())))[0] == NOT_FOUND
    cancelled = (await cancel(patient)).consultation

    assert cancelled.status == cpb.CONSULTATION_STATUS_REFUNDED
    assert cancelled.refund_reason == cpb.REFUND_REASON_PATIENT_CANCELLED
    await refunded_in_full_once(nobat, checkout.payment_id, "patient_cancelled")
    # The doctor is paid nothing: their held payout went back to the platform and the
    # refund took it from there, or the refund, arriving first, reversed it where it was.
    [gone] = await until(
        partial(payouts_of, nobat, doctor_id, checkout.payment_id),
        lambda payouts: [p.status for p in payouts] in ([MOVED], [REVERSED]),
        "the doctor's payout moved or reversed",
    )
    assert gone.status in (MOVED, REVERSED), gone
    accepting = nobat.doctor(doctor_id).consultation.AcceptConsultation(
        cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
    )
    assert (await refusal(accepting))[0] == grpc.StatusCode.FAILED_PRECONDITION
    assert await refusal(cancel(patient)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        [],
        "CONSULTATION_ALREADY_TAKEN",
    )
    [refund] = [e for e in await trail(patient, checkout.payment_id) if e.action == "refund"]
    assert (refund.actor_id, refund.actor_role, refund.reason) == (
        "consultation",
        "system",
        "patient_cancelled",
    )
    # Every invariant holds: ledger balanced, one outcome per payment, payouts with the
    # doctor of record (the platform, for a refunded consultation).
    await settled(stack)
