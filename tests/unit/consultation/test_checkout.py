from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.checkout import CheckoutStatus, ConfirmedPayment, PaymentMethod
from purchasing.events import Purchase, PurchaseFulfilled, PurchaseRejected
from runtime.money import Money
from services.consultation.domain.checkout import open_checkout
from services.consultation.domain.errors import (
    ConsultationTypeNotOffered,
    DoctorNotAvailable,
    EmergencyCareAdvised,
    IntakeExpired,
    IntakeNotFound,
)
from services.consultation.domain.events import ClinicalSessionOpened, RefundReason
from services.consultation.domain.offers import PriceList
from services.consultation.domain.session import ClinicalSessionStatus
from tests.unit.consultation.builders import (
    CHAT,
    DECLINED,
    EMERGENCY,
    NOW,
    VIDEO,
    a_checkout,
    a_doctor,
    an_intake,
    confirm,
    symptoms,
)

MINUTE = timedelta(minutes=1)
CHAT_PRICE = Money(500_000, "IRR")


def start(**overrides):
    fields: dict = {
        "checkout_id": "checkout-1",
        "intake": an_intake(),
        "patient_id": "patient-1",
        "consultation_type": CHAT,
        "doctor": None,
        "method": PaymentMethod.GATEWAY,
        "now": NOW,
    }
    fields.update(overrides)
    return open_checkout(**fields)


def test_a_checkout_is_priced_by_the_server_from_the_intakes_offer():
    checkout = start(consultation_type=VIDEO)

    assert checkout.price == Money(900_000, "IRR")
    assert checkout.status is CheckoutStatus.AWAITING_PAYMENT
    assert checkout.expires_at == NOW + timedelta(minutes=30)
    assert checkout.doctor_id is None
    assert checkout.events == []


def test_a_chosen_doctors_own_price_replaces_the_default_for_that_type_only():
    doctor = a_doctor(prices=PriceList({VIDEO: Money(1_200_000, "IRR")}))

    assert start(consultation_type=VIDEO, doctor=doctor).price == Money(1_200_000, "IRR")
    assert start(consultation_type=CHAT, doctor=doctor).price == CHAT_PRICE
    assert start(doctor=doctor).doctor_id == "doctor-1"


def test_another_patients_intake_does_not_exist_for_the_caller():
    with pytest.raises(IntakeNotFound):
        start(patient_id="patient-2")


def test_an_expired_intake_starts_no_checkout():
    with pytest.raises(IntakeExpired):
        start(now=NOW + timedelta(hours=2))


def test_a_type_the_intake_does_not_offer_is_refused_with_what_is_offered():
    with pytest.raises(ConsultationTypeNotOffered) as raised:
        start(intake=an_intake(symptoms("chest_pain")), consultation_type=CHAT)

    assert raised.value.metadata["offered"] == "video, emergency"


def test_an_intake_advising_emergency_care_in_person_gets_no_online_checkout():
    emergency_only = an_intake(symptoms("chest_pain", "shortness_of_breath"))

    for kind in (CHAT, VIDEO, EMERGENCY):
        with pytest.raises(EmergencyCareAdvised):
            start(intake=emergency_only, consultation_type=kind)


def test_an_inactive_doctor_cannot_be_chosen():
    with pytest.raises(DoctorNotAvailable):
        start(doctor=a_doctor(active=False))


def test_a_confirmed_payment_opens_a_clinical_session_and_nothing_else():
    checkout = a_checkout()

    session = confirm(checkout, at=NOW + 2 * MINUTE)

    assert session is not None
    assert session.status is ClinicalSessionStatus.AWAITING_SYMPTOMS
    assert session.consultation_id is None and session.doctor_id is None
    assert session.expires_at == NOW + 2 * MINUTE + timedelta(hours=72)
    assert (session.payment_id, session.price, session.type) == (
        "payment-checkout-1",
        CHAT_PRICE,
        CHAT,
    )
    assert checkout.status is CheckoutStatus.CONFIRMED
    assert checkout.clinical_session_id == session.id
    assert checkout.events == [
        PurchaseFulfilled(
            "payment-checkout-1", Purchase("consultation", "checkout-1"), NOW + 2 * MINUTE
        )
    ]
    assert Purchase("consultation", "checkout-1").kind == "consultation"
    assert session.events == [
        ClinicalSessionOpened(
            session.id,
            "checkout-1",
            "payment-checkout-1",
            "patient-1",
            CHAT,
            None,
            NOW + 2 * MINUTE,
            session.expires_at,
        )
    ]


def test_the_session_lasts_as_configured():
    checkout = a_checkout()

    session = checkout.payment_confirmed(
        ConfirmedPayment("payment-checkout-1", CHAT_PRICE, NOW),
        doctor=None,
        clinical_session_id="s",
        now=NOW,
        session_ttl=timedelta(hours=1),
    )

    assert session is not None and session.expires_at == NOW + timedelta(hours=1)


def test_a_wallet_payment_takes_the_same_path_to_a_session():
    assert confirm(a_checkout(method=PaymentMethod.WALLET)) is not None


def test_a_chosen_doctor_goes_with_the_session():
    doctor = a_doctor()
    checkout = a_checkout(doctor=doctor)

    session = confirm(checkout, doctor=doctor)

    assert session is not None and session.doctor_id == "doctor-1"


def test_a_payment_that_succeeds_after_a_failed_attempt_still_opens_the_session():
    checkout = a_checkout()
    checkout.payment_failed(DECLINED, now=NOW + MINUTE)

    session = confirm(checkout, at=NOW + 2 * MINUTE)

    assert session is not None
    assert checkout.status is CheckoutStatus.CONFIRMED
    assert checkout.payment_failure is None


def test_a_payment_confirmed_after_the_checkout_expired_is_still_honoured():
    checkout = a_checkout()
    checkout.expire(NOW + 31 * MINUTE)

    assert confirm(checkout, at=NOW + 40 * MINUTE) is not None
    assert checkout.status is CheckoutStatus.CONFIRMED


def test_the_same_confirmation_twice_opens_one_session_and_answers_once():
    checkout = a_checkout()
    first = confirm(checkout)

    again = confirm(checkout, at=NOW + MINUTE)

    assert first is not None and again is None
    assert len(checkout.events) == 1


def test_a_wrong_amount_is_refunded_in_full_and_opens_nothing():
    checkout = a_checkout()

    session = confirm(checkout, amount=Money(1, "IRR"))

    assert session is None
    assert checkout.status is CheckoutStatus.REFUNDED
    assert checkout.refund_reason is RefundReason.AMOUNT_MISMATCH
    assert checkout.events == [
        PurchaseRejected(
            "payment-checkout-1", Purchase("consultation", "checkout-1"), "amount_mismatch", NOW
        )
    ]


def test_a_chosen_doctor_who_left_before_the_payment_means_a_full_refund():
    checkout = a_checkout(doctor=a_doctor())

    assert confirm(checkout, doctor=a_doctor(active=False)) is None
    assert checkout.refund_reason is RefundReason.DOCTOR_UNAVAILABLE

    gone = a_checkout(doctor=a_doctor(), checkout_id="checkout-2")
    assert confirm(gone, doctor=None) is None
    assert gone.refund_reason is RefundReason.DOCTOR_UNAVAILABLE
