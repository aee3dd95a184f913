from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.events import PayeeAssigned, Purchase, RefundRequested
from runtime.errors import InvalidArgument
from services.consultation.domain.caller import Caller, Role
from services.consultation.domain.consultation import ConsultationStatus, open_consultation
from services.consultation.domain.errors import (
    ClinicalSessionExpired,
    ClinicalSessionNotFound,
    ConsultationNotAwaitingReview,
    ConsultationNotFound,
    ConsultationNotInProgress,
    SymptomsAlreadySubmitted,
    UnknownSymptom,
)
from services.consultation.domain.events import (
    ConsultationAccepted,
    ConsultationAssigned,
    ConsultationCompleted,
    ConsultationCreated,
    ConsultationDeclined,
    RefundReason,
)
from services.consultation.domain.session import ClinicalSessionStatus
from services.consultation.domain.triage import ReportedSymptom, Severity, Urgency
from tests.unit.consultation.builders import (
    CHAT,
    NEVER,
    NOW,
    PATIENT,
    RULES,
    a_consultation,
    a_doctor,
    a_session,
    an_intake,
    candidates,
    doctor_caller,
    symptoms,
)

LATER = NOW + timedelta(minutes=5)


def submit(session, intake, **overrides):
    fields: dict = {
        "patient_id": "patient-1",
        "consultation_id": "consultation-1",
        "details": "Swallowing hurts.",
        "symptoms": (),
        "intake": intake,
        "triage": RULES,
        "chosen_doctor": None,
        "candidates": candidates(a_doctor()),
        "now": NOW,
    }
    fields.update(overrides)
    return open_consultation(session, **fields)


def test_symptoms_create_the_consultation_with_the_least_loaded_doctor_on_shift():
    intake = an_intake()
    session = a_session(intake)
    on_shift = candidates(a_doctor("doctor-1"), a_doctor("doctor-2"), loads={"doctor-1": 2})

    consultation = submit(session, intake, candidates=on_shift)

    assert consultation.status is ConsultationStatus.DOCTOR_REVIEW_PENDING
    assert (consultation.doctor_id, consultation.assigned_at) == ("doctor-2", NOW)
    assert consultation.accept_by == NOW + timedelta(hours=24)
    assert session.status is ClinicalSessionStatus.SYMPTOMS_SUBMITTED
    assert session.consultation_id == consultation.id
    assert consultation.events == [
        ConsultationCreated(
            consultation_id="consultation-1",
            clinical_session_id=session.id,
            patient_id="patient-1",
            doctor_id="doctor-2",
            type=CHAT,
            urgency=Urgency.SOON,
            created_at=NOW,
        ),
        # Nobody was chosen at checkout: payment made the platform its payee.
        paid_to(consultation, "doctor-2", 1, NOW),
    ]


def paid_to(consultation, doctor_id, assignment, at) -> PayeeAssigned:
    purchase = Purchase("consultation", consultation.checkout_id)
    return PayeeAssigned(consultation.payment_id, purchase, doctor_id, assignment, at)


def test_the_doctor_chosen_at_checkout_gets_it_even_off_shift():
    chosen = a_doctor("doctor-9", shifts=NEVER)

    consultation = a_consultation(chosen=chosen, on_shift=[a_doctor("doctor-1")])

    assert consultation.doctor_id == "doctor-9"


def test_a_chosen_doctor_who_left_since_the_payment_is_replaced_not_refunded():
    chosen = a_doctor("doctor-9")
    intake = an_intake()
    session = a_session(intake, doctor=chosen)
    chosen.active = False

    consultation = submit(session, intake, chosen_doctor=chosen)

    assert consultation.doctor_id == "doctor-1"


def test_with_nobody_on_shift_the_consultation_waits_in_the_queue():
    consultation = a_consultation(on_shift=[a_doctor(shifts=NEVER), a_doctor("d2", active=False)])

    assert consultation.status is ConsultationStatus.WAITING_FOR_DOCTOR
    assert consultation.doctor_id is None
    assert consultation.events[0].doctor_id is None


def test_the_detailed_triage_adds_the_new_symptoms_to_the_intakes():
    consultation = a_consultation(
        reported=[ReportedSymptom("fever", Severity.SEVERE), ReportedSymptom("ear_pain")]
    )

    assert [s.code for s in consultation.symptoms] == ["fever", "ear_pain", "sore_throat"]
    assert consultation.symptoms[0].severity is Severity.SEVERE
    assert consultation.triage.urgency is Urgency.URGENT
    assert consultation.events[0].urgency is Urgency.URGENT


def test_a_red_flag_found_after_payment_is_marked_but_the_consultation_goes_ahead():
    consultation = a_consultation(reported=symptoms("stiff_neck"), on_shift=[a_doctor()])

    assert consultation.triage.emergency_care_advised
    assert consultation.status is ConsultationStatus.DOCTOR_REVIEW_PENDING
    assert consultation.events[0].urgency is Urgency.EMERGENCY


def test_a_second_submission_is_a_failed_precondition():
    intake = an_intake()
    session = a_session(intake)
    submit(session, intake)

    with pytest.raises(SymptomsAlreadySubmitted):
        submit(session, intake, consultation_id="consultation-2")


def test_symptoms_for_someone_elses_or_an_expired_session_are_refused():
    intake = an_intake()
    session = a_session(intake)

    with pytest.raises(ClinicalSessionNotFound):
        submit(session, intake, patient_id="patient-2")
    with pytest.raises(ClinicalSessionExpired):
        submit(session, intake, now=NOW + timedelta(hours=72))
    assert session.status is ClinicalSessionStatus.AWAITING_SYMPTOMS


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"details": ""}, "details"),
        ({"details": "x" * 5001}, "details"),
        ({"symptoms": symptoms("cough", "cough")}, "symptoms[1].code"),
        ({"symptoms": symptoms("cough", "coff")}, "symptoms[1].code"),
    ],
)
def test_bad_details_or_symptoms_are_refused_by_field_and_change_nothing(overrides, field):
    intake = an_intake()
    session = a_session(intake)

    with pytest.raises((InvalidArgument, UnknownSymptom)) as raised:
        submit(session, intake, **overrides)

    assert raised.value.violations[0][0] == field
    assert session.status is ClinicalSessionStatus.AWAITING_SYMPTOMS


def test_the_assigned_doctor_accepts_then_completes_with_notes():
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.events.clear()

    consultation.accept("doctor-1", LATER)
    consultation.complete("doctor-1", "Strep likely; rapid test advised.", LATER)

    assert consultation.status is ConsultationStatus.COMPLETED
    assert (consultation.accepted_at, consultation.completed_at) == (LATER, LATER)
    assert consultation.notes == "Strep likely; rapid test advised."
    assert consultation.events == [
        ConsultationAccepted("consultation-1", "patient-1", "doctor-1", LATER),
        ConsultationCompleted("consultation-1", "patient-1", "doctor-1", LATER),
    ]


def test_only_the_assigned_doctor_may_act_and_others_see_nothing():
    consultation = a_consultation(on_shift=[a_doctor()])

    for act in (
        lambda: consultation.accept("doctor-2", LATER),
        lambda: consultation.complete("doctor-2", "", LATER),
        lambda: consultation.decline("doctor-2", "", candidates=[], now=LATER),
    ):
        with pytest.raises(ConsultationNotFound):
            act()


def test_each_doctor_action_needs_its_state():
    consultation = a_consultation(on_shift=[a_doctor()])

    with pytest.raises(ConsultationNotInProgress):
        consultation.complete("doctor-1", "", LATER)
    consultation.accept("doctor-1", LATER)
    with pytest.raises(ConsultationNotAwaitingReview):
        consultation.accept("doctor-1", LATER)
    with pytest.raises(ConsultationNotAwaitingReview):
        consultation.decline("doctor-1", "busy", candidates=[], now=LATER)


def test_notes_and_decline_reasons_have_limits():
    consultation = a_consultation(on_shift=[a_doctor()])
    with pytest.raises(InvalidArgument, match="reason"):
        consultation.decline("doctor-1", "x" * 1001, candidates=[], now=LATER)
    consultation.accept("doctor-1", LATER)

    with pytest.raises(InvalidArgument, match="notes"):
        consultation.complete("doctor-1", "x" * 10_001, LATER)
    assert consultation.status is ConsultationStatus.IN_PROGRESS


def test_a_decline_reassigns_to_the_least_loaded_other_doctor_on_shift():
    doctors = [a_doctor("doctor-1"), a_doctor("doctor-2"), a_doctor("doctor-3")]
    consultation = a_consultation(on_shift=doctors[:1])
    consultation.events.clear()

    consultation.decline(
        "doctor-1",
        "Outside my specialty.",
        candidates=candidates(*doctors, loads={"doctor-2": 3, "doctor-1": 0}),
        now=LATER,
    )

    assert consultation.status is ConsultationStatus.DOCTOR_REVIEW_PENDING
    assert consultation.doctor_id == "doctor-3"
    assert consultation.declines[0].reason == "Outside my specialty."
    assert consultation.events == [
        ConsultationDeclined("consultation-1", "patient-1", "doctor-1", LATER),
        ConsultationAssigned("consultation-1", "patient-1", "doctor-3", "doctor-1", LATER),
        paid_to(consultation, "doctor-3", 2, LATER),
    ]
    assert not consultation.visible_to(doctor_caller("doctor-1"))
    assert consultation.visible_to(doctor_caller("doctor-3"))


def test_a_doctor_who_declined_is_never_offered_it_again():
    doctors = candidates(a_doctor("doctor-1"), a_doctor("doctor-2"))
    consultation = a_consultation(on_shift=[a_doctor("doctor-1")])

    consultation.decline("doctor-1", "", candidates=doctors, now=LATER)
    consultation.decline("doctor-2", "", candidates=doctors, now=LATER)

    assert consultation.status is ConsultationStatus.REFUNDED
    assert consultation.declined_by == {"doctor-1", "doctor-2"}


def test_a_decline_with_nobody_else_on_shift_refunds_the_patient_in_full_once():
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.events.clear()

    consultation.decline(
        "doctor-1", "", candidates=candidates(a_doctor(), a_doctor("d2", shifts=NEVER)), now=LATER
    )

    assert consultation.status is ConsultationStatus.REFUNDED
    assert consultation.refund_reason is RefundReason.NO_DOCTOR_ACCEPTED
    refunds = [e for e in consultation.events if isinstance(e, RefundRequested)]
    assert [(r.reason, r.amount, r.payment_id) for r in refunds] == [
        (RefundReason.NO_DOCTOR_ACCEPTED.value, consultation.price, "payment-checkout-1")
    ]
    assert consultation.refund_if_untaken(LATER + timedelta(days=2)) is False


def test_a_consultation_is_visible_to_its_patient_its_doctor_and_admins():
    consultation = a_consultation(on_shift=[a_doctor()])

    for caller in (PATIENT, doctor_caller(), Caller("ops", Role.ADMIN)):
        consultation.ensure_visible_to(caller)
    for caller in (Caller("patient-2", Role.PATIENT), doctor_caller("doctor-2")):
        with pytest.raises(ConsultationNotFound):
            consultation.ensure_visible_to(caller)
