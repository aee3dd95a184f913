"""A consultation purchase voided by payment on its own initiative (PurchaseVoided, an
early fraud warning): what was bought and not yet held ends without consultation asking
for a refund; a completed consultation stays; duplicates and any order end the same."""

from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.checkout import CheckoutStatus
from purchasing.events import PurchaseFulfilled, PurchaseRejected, RefundRequested
from purchasing.news import PurchaseVoided
from services.consultation.domain.consultation import ConsultationStatus
from services.consultation.domain.events import RefundReason
from services.consultation.domain.session import ClinicalSessionStatus
from services.consultation.handlers import clinical, purchases
from tests.unit.consultation.builders import NOW, PATIENT, a_checkout, a_doctor, an_intake
from tests.unit.consultation.fakes import fake_unit
from tests.unit.consultation.test_handlers import confirmed, context, doctor_caller

LATER = NOW + timedelta(minutes=5)


def voided(checkout) -> PurchaseVoided:
    return PurchaseVoided(checkout.id, checkout.payment_id, "fraud_warning", LATER)


async def paid_session(*, symptoms: bool):
    """A paid checkout's session, with its consultation (assigned to doctor-1) if
    `symptoms`: (uow, checkout)."""
    checkout = a_checkout()
    uow = fake_unit(intakes=[an_intake()], checkouts=[checkout], doctors=[a_doctor()])
    ctx = context(uow)
    await purchases.payment_confirmed(ctx, uow, confirmed(checkout))
    if symptoms:
        [session] = uow.clinical_sessions.all()
        command = clinical.SubmitSymptoms(PATIENT, session.id, "Worse at night.", ())
        await clinical.submit_symptoms(ctx, uow, command)
    return uow, checkout


async def test_a_session_awaiting_symptoms_ends_once_and_asks_no_refund():
    uow, checkout = await paid_session(symptoms=False)
    ctx = context(uow, at=LATER)
    await purchases.purchase_voided(ctx, uow, voided(checkout))
    await purchases.purchase_voided(ctx, uow, voided(checkout))
    await purchases.payment_confirmed(ctx, uow, confirmed(checkout))

    [session] = uow.clinical_sessions.all()
    assert session.status is ClinicalSessionStatus.EXPIRED
    assert uow.of(RefundRequested) == [] and uow.of(PurchaseRejected) == []


@pytest.mark.parametrize("accepted", [False, True], ids=["untaken", "under way"])
async def test_a_consultation_not_yet_held_ends_refunded_as_voided(accepted):
    uow, checkout = await paid_session(symptoms=True)
    if accepted:
        [taken] = uow.consultations.all()
        command = clinical.AcceptConsultation(taken.id, doctor_caller())
        await clinical.accept_consultation(context(uow), uow, command)
    await purchases.purchase_voided(context(uow, at=LATER), uow, voided(checkout))

    [consultation] = uow.consultations.all()
    assert (consultation.status, consultation.refund_reason) == (
        ConsultationStatus.REFUNDED,
        RefundReason.PURCHASE_VOIDED,
    )
    assert uow.of(RefundRequested) == []


async def test_a_completed_consultation_was_held_and_stays():
    uow, checkout = await paid_session(symptoms=True)
    [consultation] = uow.consultations.all()
    ctx, doctor = context(uow), doctor_caller()
    await clinical.accept_consultation(
        ctx, uow, clinical.AcceptConsultation(consultation.id, doctor)
    )
    await clinical.complete_consultation(
        ctx, uow, clinical.CompleteConsultation(consultation.id, doctor, "Rest.")
    )
    await purchases.purchase_voided(context(uow, at=LATER), uow, voided(checkout))

    [stored] = uow.consultations.all()
    assert stored.status is ConsultationStatus.COMPLETED


async def test_voided_before_its_confirmation_arrives_opens_nothing():
    checkout = a_checkout()
    uow = fake_unit(intakes=[an_intake()], checkouts=[checkout], doctors=[a_doctor()])
    ctx = context(uow, at=LATER)
    await purchases.purchase_voided(ctx, uow, voided(checkout))
    await purchases.payment_confirmed(ctx, uow, confirmed(checkout))

    assert uow.clinical_sessions.all() == []
    [stored] = uow.checkouts.all()
    assert (stored.status, stored.refund_reason) == (
        CheckoutStatus.REFUNDED,
        RefundReason.PURCHASE_VOIDED,
    )
    assert uow.of(PurchaseRejected) == [] and uow.of(PurchaseFulfilled) == []
