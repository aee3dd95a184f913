from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.events import Purchase, RefundRequested
from runtime.money import Money
from services.consultation.domain.caller import Caller, Role
from services.consultation.domain.errors import (
    ClinicalSessionExpired,
    ClinicalSessionNotFound,
    SymptomsAlreadySubmitted,
)
from services.consultation.domain.events import RefundReason
from services.consultation.domain.session import ClinicalSessionStatus
from tests.unit.consultation.builders import NOW, PATIENT, a_session

EXPIRY = NOW + timedelta(hours=72)


def test_a_session_without_symptoms_by_its_expiry_is_refunded_in_full_once():
    session = a_session()

    assert session.expire(EXPIRY) is True
    assert session.expire(EXPIRY + timedelta(hours=1)) is False

    assert session.status is ClinicalSessionStatus.EXPIRED
    assert session.events == [
        RefundRequested(
            idempotency_key="consultation-refund:payment-checkout-1",
            payment_id="payment-checkout-1",
            purchase=Purchase("consultation", "checkout-1"),
            amount=Money(500_000, "IRR"),
            reason=RefundReason.SYMPTOMS_NOT_SUBMITTED.value,
            requested_at=EXPIRY,
        )
    ]


def test_a_session_is_not_expired_before_its_time():
    session = a_session()

    assert session.expire(EXPIRY - timedelta(seconds=1)) is False
    assert session.status is ClinicalSessionStatus.AWAITING_SYMPTOMS
    assert session.events == []


def test_a_session_with_its_symptoms_never_expires():
    session = a_session()
    session.symptoms_submitted("patient-1", "consultation-1", NOW + timedelta(hours=1))

    assert session.expire(EXPIRY) is False
    assert session.events == []


def test_symptoms_are_taken_only_from_the_sessions_patient_while_it_awaits_them():
    session = a_session()

    with pytest.raises(ClinicalSessionNotFound):
        session.ensure_awaiting_symptoms("patient-2", NOW)
    with pytest.raises(ClinicalSessionExpired):
        session.ensure_awaiting_symptoms("patient-1", EXPIRY)
    session.symptoms_submitted("patient-1", "consultation-1", NOW)
    with pytest.raises(SymptomsAlreadySubmitted) as raised:
        session.symptoms_submitted("patient-1", "consultation-2", NOW)
    assert raised.value.metadata["consultation_id"] == "consultation-1"


def test_an_expired_session_refuses_symptoms():
    session = a_session()
    session.expire(EXPIRY)

    with pytest.raises(ClinicalSessionExpired):
        session.ensure_awaiting_symptoms("patient-1", NOW)


def test_a_session_is_visible_to_its_patient_and_staff_only():
    session = a_session()

    session.ensure_visible_to(PATIENT)
    session.ensure_visible_to(Caller("admin-1", Role.ADMIN))
    for stranger in (Caller("patient-2", Role.PATIENT), Caller("patient-1", Role.DOCTOR)):
        with pytest.raises(ClinicalSessionNotFound):
            session.ensure_visible_to(stranger)
