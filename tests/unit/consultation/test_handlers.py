"""Consultation's use cases, run by its handlers on the in-memory unit of work: what is
stored, what is published, what is refused, and that a refusal or a payment out of reach
leaves nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from clients.payment import Failure
from purchasing.checkout import CheckoutStatus, ConfirmedPayment, PaymentMethod
from purchasing.commands import RetryCheckout
from purchasing.errors import CheckoutNotFound
from purchasing.events import (
    PayeeAssigned,
    PurchaseFulfilled,
    PurchaseRejected,
    RefundRequested,
)
from purchasing.handlers import CheckoutNotYetVisible
from purchasing.news import PaymentConfirmed, PaymentExpired, PaymentFailed
from runtime import errors
from runtime.money import Money
from runtime.wire import PageRequest
from services.consultation.domain.caller import Caller, Role
from services.consultation.domain.consultation import Consultation, ConsultationStatus
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.errors import (
    ClinicalSessionNotFound,
    ConsultationAlreadyTaken,
    ConsultationNotFound,
    DoctorNotFound,
    IntakeNotFound,
    SymptomsAlreadySubmitted,
)
from services.consultation.domain.events import (
    ClinicalSessionOpened,
    ConsultationAccepted,
    ConsultationAssigned,
    ConsultationCompleted,
    ConsultationCreated,
    ConsultationDeclined,
    RefundReason,
)
from services.consultation.domain.offers import PriceList
from services.consultation.domain.session import ClinicalSessionStatus
from services.consultation.domain.triage import Sex
from services.consultation.handlers import clinical, purchases, views
from services.consultation.handlers.context import Context
from tests.unit.consultation.builders import (
    ALWAYS,
    CHAT,
    DECLINED,
    NEVER,
    NOW,
    PATIENT,
    RULES,
    SORE_THROAT,
    VIDEO,
    a_checkout,
    a_consultation,
    a_doctor,
    a_session,
    an_intake,
    doctor_caller,
)
from tests.unit.consultation.fakes import FakePayments, fake_unit
from tests.unit.fakes import FakeUnitOfWork, FakeWatch

MINUTE = timedelta(minutes=1)
STRANGER = Caller("patient-2", Role.PATIENT)


def context(
    uow: FakeUnitOfWork,
    payments: FakePayments | None = None,
    at: datetime = NOW,
    chats: FakeWatch | None = None,
):
    return Context(
        unit_of_work=lambda: uow,
        payments=payments or FakePayments(),
        triage=RULES,
        chats=chats or FakeWatch(),
        clock=lambda: at,
    )


def intake_request(key: str = "key-1", complaint: str = "Sore throat since yesterday."):
    return purchases.StartIntake(PATIENT, key, complaint, SORE_THROAT, 30, Sex.FEMALE)


def checkout_request(
    *, doctor_id: str | None = None, method: PaymentMethod = PaymentMethod.GATEWAY
) -> purchases.StartCheckout:
    return purchases.StartCheckout("patient-1", "key-1", "intake-1", CHAT, doctor_id, method)


def confirmed(checkout, amount: Money | None = None) -> PaymentConfirmed:
    payment = ConfirmedPayment(checkout.payment_id, amount or checkout.price, confirmed_at=NOW)
    return PaymentConfirmed(checkout.id, payment)


def audited_actions(uow: FakeUnitOfWork) -> list[tuple[str, str, str]]:
    return [(e.actor_id, e.action, e.subject_id) for e in uow.audit.added]


def awaiting_symptoms(
    *doctors: Doctor, consultations: Sequence[Consultation] = ()
) -> tuple[FakeUnitOfWork, clinical.SubmitSymptoms]:
    """A paid session awaiting its symptoms among these doctors, and the patient's
    command sending them."""
    session = a_session()
    uow = fake_unit(
        intakes=[an_intake()],
        clinical_sessions=[session],
        doctors=doctors,
        consultations=consultations,
    )
    return uow, clinical.SubmitSymptoms(PATIENT, session.id, "Worse at night.", ())


# Intake and checkout


async def test_an_intake_is_offered_at_the_platform_prices_and_audited():
    uow = fake_unit()

    intake = await purchases.start_intake(context(uow), uow, intake_request())

    assert uow.intakes.all() == [intake]
    assert {offer.type: offer.price for offer in intake.offers}[CHAT] == Money(500_000, "IRR")
    assert audited_actions(uow) == [("patient-1", "StartIntake", intake.id)]
    [entry] = uow.audit.added
    assert (entry.client_address, entry.user_agent) == ("203.0.113.7", "nobat-android/3.1")


async def test_the_same_intake_request_twice_keeps_one_intake():
    uow = fake_unit()
    ctx = context(uow)

    first = await purchases.start_intake(ctx, uow, intake_request())
    again = await purchases.start_intake(ctx, uow, intake_request())
    other = await purchases.start_intake(ctx, uow, intake_request(key="key-2"))

    assert again.id == first.id != other.id
    assert [i.id for i in uow.intakes.all()] == [first.id, other.id]


async def test_a_key_that_looks_like_another_patients_id_is_still_the_patients_own_intake():
    uow = fake_unit()
    ctx = context(uow)
    patient_a, patient_ab = replace(PATIENT, id="a"), replace(PATIENT, id="a/b")
    mine = await purchases.start_intake(ctx, uow, replace(intake_request("b/c"), patient=patient_a))
    theirs = await purchases.start_intake(
        ctx, uow, replace(intake_request("c", "Rash on both arms."), patient=patient_ab)
    )
    assert mine.id != theirs.id
    assert (theirs.patient_id, theirs.complaint) == ("a/b", "Rash on both arms.")


async def test_a_blank_complaint_is_refused_and_nothing_is_stored_or_audited():
    uow = fake_unit()

    with pytest.raises(errors.InvalidArgument):
        await purchases.start_intake(context(uow), uow, intake_request(complaint="  "))

    assert uow.intakes.all() == []
    assert uow.audit.added == []
    assert uow.commits == 0


async def test_a_checkout_asks_payment_for_exactly_the_offered_price_and_waits_for_it():
    uow, payments = fake_unit(intakes=[an_intake()]), FakePayments()

    checkout = await purchases.start_checkout(context(uow, payments), uow, checkout_request())

    [order] = payments.orders
    assert (order.purchase_kind, order.purchase_ref) == ("consultation", checkout.id)
    assert (order.amount_minor, order.currency, order.doctor_id) == (500_000, "IRR", None)
    assert order.expires_at == checkout.expires_at == NOW + timedelta(minutes=30)
    [stored] = uow.checkouts.all()
    assert stored.status is CheckoutStatus.AWAITING_PAYMENT
    assert stored.payment_id == f"payment-{checkout.id}"
    assert stored.checkout_url == f"https://pay.example/{checkout.id}"
    assert uow.published == []


async def test_a_chosen_doctor_is_paid_their_own_price():
    doctor = a_doctor(prices=PriceList({CHAT: Money(700_000, "IRR")}))
    uow, payments = fake_unit(intakes=[an_intake()], doctors=[doctor]), FakePayments()

    await purchases.start_checkout(
        context(uow, payments), uow, checkout_request(doctor_id="doctor-1")
    )

    [order] = payments.orders
    assert (order.amount_minor, order.doctor_id) == (700_000, "doctor-1")


@pytest.mark.parametrize(
    ("intakes", "doctor_id", "error"),
    [([], None, IntakeNotFound), ([an_intake()], "doctor-9", DoctorNotFound)],
)
async def test_a_checkout_for_what_is_not_there_is_refused_before_payment_is_asked(
    intakes, doctor_id, error
):
    uow, payments = fake_unit(intakes=intakes), FakePayments()

    with pytest.raises(error):
        await purchases.start_checkout(
            context(uow, payments), uow, checkout_request(doctor_id=doctor_id)
        )

    assert payments.orders == []
    assert uow.checkouts.all() == []


async def test_payment_out_of_reach_leaves_no_checkout_behind():
    uow, payments = fake_unit(intakes=[an_intake()]), FakePayments()
    payments.reachable = False

    with pytest.raises(errors.Unavailable):
        await purchases.start_checkout(context(uow, payments), uow, checkout_request())

    assert uow.checkouts.all() == []


async def test_a_wallet_too_short_fails_the_checkout_and_a_retry_by_gateway_is_a_new_attempt():
    uow, payments = fake_unit(intakes=[an_intake()]), FakePayments()
    ctx = context(uow, payments)
    payments.failure = Failure("insufficient_funds", "The wallet is short.", retryable=True)

    checkout = await purchases.start_checkout(
        ctx, uow, checkout_request(method=PaymentMethod.WALLET)
    )
    assert checkout.status is CheckoutStatus.PAYMENT_FAILED
    payments.failure = None
    retry = RetryCheckout(checkout.id, PaymentMethod.GATEWAY, viewer="patient-1")
    retried = await purchases.retry_checkout(ctx, uow, retry)

    assert payments.retries == [(checkout.payment_id, f"{checkout.id}/attempt/2", "gateway", "")]
    [stored] = uow.checkouts.all()
    assert stored == retried
    assert (stored.status, stored.attempt) == (CheckoutStatus.AWAITING_PAYMENT, 2)
    assert stored.method is PaymentMethod.GATEWAY


async def test_a_retry_while_payment_is_out_of_reach_leaves_the_failed_checkout_as_it_was():
    checkout = a_checkout()
    checkout.payment_failed(DECLINED, now=NOW)
    uow, payments = fake_unit(checkouts=[checkout]), FakePayments()
    payments.reachable = False

    with pytest.raises(errors.Unavailable):
        await purchases.retry_checkout(
            context(uow, payments), uow, RetryCheckout(checkout.id, viewer="patient-1")
        )

    assert uow.checkouts.all() == [checkout]


async def test_another_patients_checkout_is_not_found_nor_retried():
    checkout = a_checkout()
    checkout.payment_failed(DECLINED, now=NOW)
    uow, payments = fake_unit(checkouts=[checkout]), FakePayments()
    ctx = context(uow, payments)

    with pytest.raises(CheckoutNotFound):
        await views.checkout(uow, checkout.id, "patient-2")
    with pytest.raises(CheckoutNotFound):
        await purchases.retry_checkout(ctx, uow, RetryCheckout(checkout.id, viewer="patient-2"))

    assert payments.retries == []
    assert await views.checkout(uow, checkout.id, None) == checkout


# What payment says about a checkout


async def test_a_confirmed_payment_opens_one_clinical_session_even_when_told_twice():
    checkout = a_checkout()
    uow = fake_unit(checkouts=[checkout])
    ctx = context(uow)

    await purchases.payment_confirmed(ctx, uow, confirmed(checkout))
    await purchases.payment_confirmed(ctx, uow, confirmed(checkout))

    [session] = uow.clinical_sessions.all()
    [stored] = uow.checkouts.all()
    assert session.status is ClinicalSessionStatus.AWAITING_SYMPTOMS
    assert session.price == checkout.price and session.checkout_id == checkout.id
    assert (stored.status, stored.clinical_session_id) == (CheckoutStatus.CONFIRMED, session.id)
    assert [type(fact) for fact in uow.published] == [PurchaseFulfilled, ClinicalSessionOpened]


@pytest.mark.parametrize(
    ("amount", "doctor_active", "reason"),
    [
        (Money(1, "IRR"), True, RefundReason.AMOUNT_MISMATCH),
        (None, False, RefundReason.DOCTOR_UNAVAILABLE),
    ],
)
async def test_a_payment_that_cannot_be_honoured_is_refunded_in_full_and_opens_nothing(
    amount, doctor_active, reason
):
    checkout = a_checkout(doctor=a_doctor())
    uow = fake_unit(checkouts=[checkout], doctors=[a_doctor(active=doctor_active)])

    await purchases.payment_confirmed(context(uow), uow, confirmed(checkout, amount))

    assert uow.clinical_sessions.all() == []
    assert uow.checkouts.all()[0].status is CheckoutStatus.REFUNDED
    [rejected] = uow.published
    assert isinstance(rejected, PurchaseRejected)
    assert (rejected.payment_id, rejected.reason) == (checkout.payment_id, reason.value)


async def test_a_payment_for_a_checkout_not_yet_stored_is_redelivered_then_refunded():
    uow = fake_unit()
    news = PaymentConfirmed("checkout-gone", ConfirmedPayment("payment-9", None, NOW))

    with pytest.raises(CheckoutNotYetVisible):
        await purchases.payment_confirmed(context(uow, at=NOW + MINUTE / 2), uow, news)
    assert uow.published == []

    await purchases.payment_confirmed(context(uow, at=NOW + 2 * MINUTE), uow, news)

    [rejected] = uow.published
    assert (rejected.payment_id, rejected.purchase.ref) == ("payment-9", "checkout-gone")
    assert rejected.reason == "unknown_checkout"


async def test_a_failed_payment_is_recorded_and_one_for_no_checkout_changes_nothing():
    checkout = a_checkout()
    uow = fake_unit(checkouts=[checkout])
    ctx = context(uow, at=NOW + 5 * MINUTE)

    await purchases.payment_failed(
        ctx, uow, PaymentFailed(checkout.id, DECLINED, checkout.payment_id, None, NOW)
    )
    await purchases.payment_failed(
        ctx, uow, PaymentFailed("checkout-gone", DECLINED, "p", None, NOW)
    )

    [stored] = uow.checkouts.all()
    assert (stored.status, stored.payment_failure) == (CheckoutStatus.PAYMENT_FAILED, DECLINED)
    assert uow.published == []


async def test_the_sweeper_expires_only_checkouts_past_their_expiry_and_each_once():
    lapsed = a_checkout(checkout_id="checkout-old", now=NOW - 31 * MINUTE)
    fresh = a_checkout(checkout_id="checkout-new")
    uow = fake_unit(checkouts=[lapsed, fresh])
    ctx = context(uow)

    await purchases.expire_lapsed_checkouts(ctx)
    await purchases.expire_lapsed_checkouts(ctx)
    await purchases.payment_expired(ctx, uow, PaymentExpired("checkout-gone", NOW - 5 * MINUTE))

    statuses = {c.id: c.status for c in uow.checkouts.all()}
    assert statuses == {
        "checkout-old": CheckoutStatus.EXPIRED,
        "checkout-new": CheckoutStatus.AWAITING_PAYMENT,
    }
    assert uow.published == []


# The clinical session and the consultation


async def test_symptoms_make_a_consultation_for_the_least_loaded_doctor_on_shift():
    busy, free = a_doctor("doctor-1"), a_doctor("doctor-2")
    earlier = a_consultation(on_shift=[busy], consultation_id="consultation-earlier")
    uow, command = awaiting_symptoms(busy, free, consultations=[earlier])

    consultation = await clinical.submit_symptoms(context(uow), uow, command)

    assert (consultation.status, consultation.doctor_id) == (
        ConsultationStatus.DOCTOR_REVIEW_PENDING,
        "doctor-2",
    )
    [session] = uow.clinical_sessions.all()
    assert (session.status, session.consultation_id) == (
        ClinicalSessionStatus.SYMPTOMS_SUBMITTED,
        consultation.id,
    )
    created, paid = uow.published
    assert isinstance(created, ConsultationCreated) and created.doctor_id == "doctor-2"
    assert (paid.doctor_id, paid.assignment) == ("doctor-2", 1)
    assert audited_actions(uow) == [("patient-1", "SubmitSymptoms", consultation.id)]


async def test_symptoms_sent_twice_make_one_consultation():
    uow, command = awaiting_symptoms(a_doctor())
    ctx = context(uow)

    first = await clinical.submit_symptoms(ctx, uow, command)
    with pytest.raises(SymptomsAlreadySubmitted):
        await clinical.submit_symptoms(ctx, uow, command)

    assert uow.consultations.all() == [first]
    assert len(uow.of(ConsultationCreated)) == 1
    assert len(uow.audit.added) == 1


async def test_with_nobody_on_shift_the_consultation_waits_for_a_shift_to_start():
    uow, command = awaiting_symptoms(a_doctor(shifts=NEVER))
    ctx = context(uow)

    waiting = await clinical.submit_symptoms(ctx, uow, command)
    assert waiting.status is ConsultationStatus.WAITING_FOR_DOCTOR
    await clinical.tend_sessions_and_queue(ctx)
    assert uow.of(ConsultationAssigned) == []
    await clinical.set_doctor_shifts(ctx, uow, clinical.SetDoctorShifts("doctor-1", ALWAYS))

    await clinical.tend_sessions_and_queue(ctx)
    await clinical.tend_sessions_and_queue(ctx)
    [assigned] = uow.of(ConsultationAssigned)
    assert (assigned.consultation_id, assigned.doctor_id) == (waiting.id, "doctor-1")
    assert uow.consultations.all()[0].doctor_id == "doctor-1"


async def test_a_doctor_accepts_then_completes_and_each_step_is_published_and_audited():
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation])
    ctx, doctor = context(uow), doctor_caller()

    await clinical.accept_consultation(
        ctx, uow, clinical.AcceptConsultation(consultation.id, doctor)
    )
    done = await clinical.complete_consultation(
        ctx, uow, clinical.CompleteConsultation(consultation.id, doctor, "Rest and fluids.")
    )

    assert uow.consultations.all() == [done]
    assert (done.status, done.notes) == (ConsultationStatus.COMPLETED, "Rest and fluids.")
    assert [type(fact) for fact in uow.published] == [ConsultationAccepted, ConsultationCompleted]
    assert [action for _, action, _ in audited_actions(uow)] == [
        "AcceptConsultation",
        "CompleteConsultation",
    ]


async def test_a_patient_cancels_an_untaken_consultation_for_a_full_refund_but_not_a_taken_one():
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation], doctors=[a_doctor()])
    ctx = context(uow)

    with pytest.raises(ConsultationNotFound):
        await clinical.cancel_consultation(
            ctx, uow, clinical.CancelConsultation(consultation.id, STRANGER)
        )
    assert uow.published == []
    cancelled = await clinical.cancel_consultation(
        ctx, uow, clinical.CancelConsultation(consultation.id, PATIENT)
    )

    assert cancelled.status is ConsultationStatus.REFUNDED
    # The assigned doctor's held payout goes back to the platform, and the refund takes it.
    assert [type(fact) for fact in uow.published] == [PayeeAssigned, RefundRequested]
    [refund] = [fact for fact in uow.published if isinstance(fact, RefundRequested)]
    assert (refund.amount, refund.reason) == (consultation.price, "patient_cancelled")
    with pytest.raises(ConsultationAlreadyTaken):
        await clinical.cancel_consultation(
            ctx, uow, clinical.CancelConsultation(consultation.id, PATIENT)
        )


async def test_a_consultation_a_doctor_accepted_cannot_be_cancelled_by_the_patient():
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation], doctors=[a_doctor()])
    ctx = context(uow)
    await clinical.accept_consultation(
        ctx, uow, clinical.AcceptConsultation(consultation.id, doctor_caller())
    )

    with pytest.raises(ConsultationAlreadyTaken):
        await clinical.cancel_consultation(
            ctx, uow, clinical.CancelConsultation(consultation.id, PATIENT)
        )
    assert uow.consultations.all()[0].status is ConsultationStatus.IN_PROGRESS
    assert not [fact for fact in uow.published if isinstance(fact, RefundRequested)]


@pytest.mark.parametrize(
    ("also_on_shift", "status", "then"),
    [
        (
            [a_doctor("doctor-2")],
            ConsultationStatus.DOCTOR_REVIEW_PENDING,
            [ConsultationDeclined, ConsultationAssigned, PayeeAssigned],
        ),
        # The platform holds it until the refund gives it back.
        ([], ConsultationStatus.REFUNDED, [ConsultationDeclined, PayeeAssigned, RefundRequested]),
    ],
)
async def test_a_declined_consultation_goes_to_another_doctor_on_shift_or_is_refunded(
    also_on_shift, status, then
):
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation], doctors=[a_doctor(), *also_on_shift])

    declined = await clinical.decline_consultation(
        context(uow), uow, clinical.DeclineConsultation(consultation.id, doctor_caller(), "Busy.")
    )

    assert declined.status is status
    assert [type(fact) for fact in uow.published] == then
    [paid] = [fact for fact in uow.published if isinstance(fact, PayeeAssigned)]
    assert (paid.doctor_id, paid.assignment) == (
        also_on_shift[0].id if also_on_shift else None,
        declined.payee_changes,
    )


async def test_a_doctor_not_assigned_cannot_act_and_leaves_no_trace():
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation])

    with pytest.raises(ConsultationNotFound):
        await clinical.accept_consultation(
            context(uow),
            uow,
            clinical.AcceptConsultation(consultation.id, doctor_caller("doctor-2")),
        )

    assert uow.consultations.all() == [consultation]
    assert uow.published == [] and uow.audit.added == []


async def test_the_chat_is_numbered_in_order_and_read_by_the_patient_and_their_doctor_only():
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation])
    ctx = context(uow)

    for author, text in ((PATIENT, "It hurts to swallow."), (doctor_caller(), "Since when?")):
        await clinical.post_message(ctx, uow, clinical.PostMessage(consultation.id, author, text))
    seen_by_patient = [
        await anext(views.chat(ctx, consultation.id, PATIENT, 0)),
        await anext(views.chat(ctx, consultation.id, PATIENT, 1)),
    ]
    seen_by_doctor = await anext(views.chat(ctx, consultation.id, doctor_caller(), 1))
    with pytest.raises(ConsultationNotFound):
        await anext(views.chat(ctx, consultation.id, STRANGER, 0))

    assert [(m.sequence, m.sender_id) for m in seen_by_patient] == [
        (1, "patient-1"),
        (2, "doctor-1"),
    ]
    assert seen_by_doctor.text == "Since when?"
    assert uow.consultations.all()[0].last_message_sequence == 2
    # One entry per post and per stream opened, none per message sent on a stream; the
    # stranger's look is refused, and recorded as such.
    assert audited_actions(uow) == [
        ("patient-1", "PostMessage", consultation.id),
        ("doctor-1", "PostMessage", consultation.id),
        ("patient-1", "StreamMessages", consultation.id),
        ("patient-1", "StreamMessages", consultation.id),
        ("doctor-1", "StreamMessages", consultation.id),
        (STRANGER.id, "StreamMessages:refused", consultation.id),
    ]


async def test_a_chat_stream_follows_what_is_posted_and_ends_once_the_consultation_is_over():
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation])
    chats = FakeWatch()
    ctx, doctor = context(uow, chats=chats), doctor_caller()
    accept = clinical.AcceptConsultation(consultation.id, doctor)
    await clinical.accept_consultation(ctx, uow, accept)
    stream = views.chat(ctx, consultation.id, PATIENT, 0)
    following = asyncio.ensure_future(anext(stream))
    await settled()
    assert not following.done() and chats.watching == [consultation.id]

    await clinical.post_message(ctx, uow, clinical.PostMessage(consultation.id, doctor, "Hi."))
    chats.news(consultation.id)
    assert (await asyncio.wait_for(following, 1)).text == "Hi."

    # The doctor's last word and the completion, with one wake-up between them.
    await clinical.post_message(ctx, uow, clinical.PostMessage(consultation.id, doctor, "Rest."))
    await clinical.complete_consultation(
        ctx, uow, clinical.CompleteConsultation(consultation.id, doctor, "Rest and fluids.")
    )
    chats.news(consultation.id)
    assert (await asyncio.wait_for(anext(stream), 1)).text == "Rest."
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), 1)
    assert chats.watching == []


async def test_a_chat_stream_of_a_consultation_already_over_sends_its_history_and_ends():
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation])
    ctx, doctor = context(uow), doctor_caller()
    await clinical.post_message(ctx, uow, clinical.PostMessage(consultation.id, PATIENT, "Hello?"))
    await clinical.decline_consultation(
        ctx, uow, clinical.DeclineConsultation(consultation.id, doctor, "Busy.")
    )

    sent = [message.text async for message in views.chat(ctx, consultation.id, PATIENT, 0)]

    assert sent == ["Hello?"]


async def settled() -> None:
    """Lets every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_page_of_consultations_audits_only_those_shown_on_it():
    older = a_consultation(on_shift=[a_doctor()], consultation_id="consultation-old")
    newer = a_consultation(
        on_shift=[a_doctor()], consultation_id="consultation-new", at=NOW + MINUTE
    )
    uow = fake_unit(consultations=[older, newer])
    mine = views.ConsultationsQuery(patient_id="patient-1", doctor_id=None, status=None)

    page, token = await views.consultations(context(uow), uow, PATIENT, mine, PageRequest(1, None))

    assert [c.id for c in page] == ["consultation-new"] and token
    assert audited_actions(uow) == [("patient-1", "ListConsultations", "consultation-new")]


async def test_every_look_at_clinical_records_is_audited_and_a_strangers_refused_look_too():
    session = a_session()
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(clinical_sessions=[session], consultations=[consultation])
    ctx = context(uow)

    await views.clinical_session(ctx, uow, session.id, PATIENT)
    await views.consultation(ctx, uow, consultation.id, doctor_caller())
    mine = views.ConsultationsQuery(patient_id="patient-1", doctor_id=None, status=None)
    listed, _ = await views.consultations(ctx, uow, PATIENT, mine, PageRequest(10, None))
    with pytest.raises(ClinicalSessionNotFound):
        await views.clinical_session(ctx, uow, session.id, STRANGER)
    with pytest.raises(ConsultationNotFound):
        await views.consultation(ctx, uow, consultation.id, STRANGER)

    assert listed == [consultation]
    assert audited_actions(uow) == [
        ("patient-1", "GetClinicalSession", session.id),
        ("doctor-1", "GetConsultation", consultation.id),
        ("patient-1", "ListConsultations", consultation.id),
        (STRANGER.id, "GetClinicalSession:refused", session.id),
        (STRANGER.id, "GetConsultation:refused", consultation.id),
    ]


async def test_a_session_whose_symptoms_never_came_is_refunded_once():
    session = a_session()
    uow = fake_unit(clinical_sessions=[session])
    ctx = context(uow, at=session.expires_at)

    await clinical.tend_sessions_and_queue(ctx)
    await clinical.expire_session(ctx, uow, clinical.ExpireSession(session.id))

    [refund] = uow.published
    assert isinstance(refund, RefundRequested)
    assert (refund.amount, refund.reason) == (session.price, "symptoms_not_submitted")
    assert uow.clinical_sessions.all()[0].status is ClinicalSessionStatus.EXPIRED


async def test_a_consultation_nobody_took_by_its_deadline_is_refunded_once():
    consultation = a_consultation(on_shift=[a_doctor()])
    uow = fake_unit(consultations=[consultation])
    early, late = (
        context(uow, at=consultation.accept_by - MINUTE),
        context(uow, at=consultation.accept_by),
    )

    await clinical.tend_sessions_and_queue(early)
    assert uow.of(RefundRequested) == []
    await clinical.tend_sessions_and_queue(late)
    await clinical.refund_untaken_consultation(
        late, uow, clinical.RefundUntakenConsultation(consultation.id)
    )

    [refund] = uow.of(RefundRequested)
    assert refund.reason == "no_doctor_accepted"
    assert uow.consultations.all()[0].status is ConsultationStatus.REFUNDED


# What consultation keeps of doctors and prices


async def test_booking_directory_news_keeps_the_newest_copy_and_consultations_own_shifts():
    uow = fake_unit()
    ctx = context(uow)
    newer = NOW + MINUTE

    await clinical.doctor_updated(
        ctx, uow, clinical.DoctorUpdated("doctor-7", "Asia/Tehran", True, NOW)
    )
    await clinical.set_doctor_shifts(ctx, uow, clinical.SetDoctorShifts("doctor-7", ALWAYS))
    await clinical.doctor_updated(
        ctx, uow, clinical.DoctorUpdated("doctor-7", "Europe/London", False, newer)
    )
    await clinical.doctor_updated(
        ctx, uow, clinical.DoctorUpdated("doctor-7", "Asia/Dubai", True, NOW)
    )

    [doctor] = uow.doctors.all()
    assert (doctor.time_zone, doctor.active, doctor.updated_at) == ("Europe/London", False, newer)
    assert doctor.shifts == ALWAYS
    assert await views.doctor(uow, "doctor-7") == doctor


async def test_new_platform_prices_price_the_next_intake_and_an_unknown_doctor_has_none():
    uow = fake_unit()
    ctx = context(uow)
    prices = PriceList({CHAT: Money(650_000, "IRR"), VIDEO: Money(990_000, "IRR")})

    await clinical.set_consultation_prices(ctx, uow, clinical.SetConsultationPrices(None, prices))
    intake = await purchases.start_intake(ctx, uow, intake_request())
    with pytest.raises(DoctorNotFound):
        await clinical.set_consultation_prices(
            ctx, uow, clinical.SetConsultationPrices("doctor-9", prices)
        )

    assert {offer.type: offer.price for offer in intake.offers}[CHAT] == Money(650_000, "IRR")
    assert uow.doctors.all() == []
