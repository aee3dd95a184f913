from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from enum import Enum

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from google.type import dayofweek_pb2, timeofday_pb2
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as pb
from nobat.consultation.v1 import events_pb2
from nobat.payment.v1 import events_pb2 as payment_events_pb2
from nobat.payment.v1 import payment_service_pb2

from purchasing import events as purchasing_events
from purchasing import messages as purchasing_messages
from purchasing.checkout import CheckoutStatus, ConfirmedPayment, PaymentMethod
from purchasing.events import PurchaseFulfilled, PurchaseRejected, RefundRequested
from runtime import rpc, wire
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.wire import money_from, money_message
from services.consultation.adapters import messages
from services.consultation.adapters.messages import (
    IntakeRequest,
    SymptomsSubmission,
    audit_entry_message,
    chat_message,
    checkout_message,
    clinical_session_message,
    consultation_message,
    consultation_status_from,
    consultation_type_from,
    doctor_id_from,
    doctor_shifts_message,
    doctor_shifts_set_message,
    event_message,
    id_from,
    intake_message,
    intake_request_from,
    method_from,
    optional_id_from,
    price_messages,
    prices_from,
    prices_set_message,
    sex_from,
    shift_message,
    shifts_from,
    submission_from,
    symptom_message,
    symptoms_from,
    triage_message,
)
from services.consultation.domain import events
from services.consultation.domain.audit import AuditEntry, SubjectKind
from services.consultation.domain.chat import ChatMessage, ChatRole, write_message
from services.consultation.domain.consultation import ConsultationStatus
from services.consultation.domain.events import (
    ClinicalSessionOpened,
    ConsultationAccepted,
    ConsultationAssigned,
    ConsultationCompleted,
    ConsultationCreated,
    ConsultationDeclined,
    RefundReason,
)
from services.consultation.domain.intake import Intake
from services.consultation.domain.offers import ConsultationType, Offer, PriceList
from services.consultation.domain.session import ClinicalSessionStatus
from services.consultation.domain.shifts import END_OF_DAY, Shift, WeeklyShifts
from services.consultation.domain.triage import (
    LikelyCondition,
    RedFlag,
    ReportedSymptom,
    Severity,
    Sex,
    Triage,
    Urgency,
)
from tests.unit.consultation.builders import (
    CHAT,
    DECLINED,
    EMERGENCY,
    NOW,
    PATIENT,
    PRICES,
    VIDEO,
    a_checkout,
    a_consultation,
    a_doctor,
    a_session,
    an_intake,
    candidates,
    confirm,
)

LATER = NOW + timedelta(minutes=3)
EXPIRES = NOW + timedelta(minutes=30)
GATEWAY = checkout_pb2.PAYMENT_METHOD_GATEWAY
PURCHASE = payment_service_pb2.Purchase(kind="consultation", ref="checkout-1")
SESSION_ID = "3f2c9a4e-8b1d-4c7a-9e2f-5d6b7a8c9d0e"
TRIAGE = Triage(
    likely_conditions=(
        LikelyCondition("strep_throat", "Strep throat", 60),
        LikelyCondition("common_cold", "Common cold", 40),
    ),
    urgency=Urgency.SOON,
    red_flags=(),
    allowed_types=(CHAT, VIDEO),
    rules_version="2025.11.1",
)
SYMPTOMS = (
    ReportedSymptom("sore_throat", Severity.MODERATE, 2),
    ReportedSymptom("fever"),
)


def ts(at: datetime) -> Timestamp:
    # Built apart from runtime.wire, so these tests do not grade it by itself.
    return Timestamp(seconds=int(at.timestamp()), nanos=at.microsecond * 1000)


def irr(amount: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount, currency="IRR")


CHAT_PRICE = irr(500_000)
SYMPTOM_MESSAGES = [
    pb.ReportedSymptom(
        code="sore_throat", severity=pb.SYMPTOM_SEVERITY_MODERATE, days_since_onset=2
    ),
    pb.ReportedSymptom(code="fever"),
]
TRIAGE_MESSAGE = pb.Triage(
    likely_conditions=[
        pb.LikelyCondition(code="strep_throat", name="Strep throat", score=60),
        pb.LikelyCondition(code="common_cold", name="Common cold", score=40),
    ],
    urgency=pb.URGENCY_SOON,
    rules_version="2025.11.1",
)


def an_intake_of(triage: Triage = TRIAGE, offers: tuple[Offer, ...] = ()) -> Intake:
    return Intake(
        id="intake-1",
        patient_id="patient-1",
        complaint="Sore throat and fever since yesterday.",
        symptoms=SYMPTOMS,
        age_years=30,
        sex=Sex.FEMALE,
        triage=triage,
        offers=offers,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=2),
    )


def hm(hours: int, minutes: int = 0, **more: int) -> timeofday_pb2.TimeOfDay:
    return timeofday_pb2.TimeOfDay(hours=hours, minutes=minutes, **more)


def shift(
    day: int = dayofweek_pb2.MONDAY,
    start: timeofday_pb2.TimeOfDay | None = None,
    end: timeofday_pb2.TimeOfDay | None = None,
) -> pb.Shift:
    return pb.Shift(day_of_week=day, start_time=start or hm(9), end_time=end or hm(12, 30))


def symptom(code: str = "fever", severity: int = 0, days: int = 0) -> pb.ReportedSymptom:
    return pb.ReportedSymptom(code=code, severity=severity, days_since_onset=days)


def intake_request(**overrides: object) -> pb.StartIntakeRequest:
    fields: dict = {
        "idempotency_key": "key-1",
        "complaint": "Sore throat and fever since yesterday.",
        "symptoms": SYMPTOM_MESSAGES,
        "age_years": 30,
        "sex": pb.SEX_FEMALE,
    }
    fields.update(overrides)
    return pb.StartIntakeRequest(**fields)


def price(kind: int, amount: int = 500_000, currency: str = "IRR") -> pb.ConsultationPrice:
    return pb.ConsultationPrice(
        type=kind, price=money_pb2.Money(amount_minor=amount, currency=currency)
    )


def refused(translate: Callable[[], object]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as error:
        translate()
    return error.value


def invalid_fields(translate: Callable[[], object]) -> list[str]:
    """The fields the gRPC edge tells the caller are wrong, checking the code on the way."""
    status = rpc.to_status(refused(translate), "consultation")
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    details = status_pb2.Status.FromString(
        dict(status.trailing_metadata)["grpc-status-details-bin"]
    )
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in details.details)
    return [violation.field for violation in bad_request.field_violations]


def invalid_field(translate: Callable[[], object]) -> str:
    (field,) = invalid_fields(translate)
    return field


# Domain -> proto.


def confirmed_payment_from(message: payment_events_pb2.PaymentConfirmed) -> ConfirmedPayment:
    """A PaymentConfirmed read as the consumer reads it, with this context's Money."""
    return purchasing_messages.confirmed_payment_from(message)


def test_an_intake_carries_its_triage_and_its_offers_with_prices() -> None:
    intake = an_intake_of(
        offers=(Offer(CHAT, Money(500_000, "IRR")), Offer(VIDEO, Money(9, "USD")))
    )
    expected = pb.Intake(
        id="intake-1",
        patient_id="patient-1",
        complaint="Sore throat and fever since yesterday.",
        symptoms=SYMPTOM_MESSAGES,
        age_years=30,
        sex=pb.SEX_FEMALE,
        triage=TRIAGE_MESSAGE,
        offers=[
            pb.ConsultationPrice(type=pb.CONSULTATION_TYPE_CHAT, price=CHAT_PRICE),
            pb.ConsultationPrice(
                type=pb.CONSULTATION_TYPE_VIDEO,
                price=money_pb2.Money(amount_minor=9, currency="USD"),
            ),
        ],
        created_at=ts(NOW),
        expires_at=ts(NOW + timedelta(hours=2)),
    )
    message = intake_message(intake)
    assert message == expected
    assert pb.Intake.FromString(message.SerializeToString()) == expected


def test_an_intake_for_emergency_care_offers_nothing_and_says_what_to_do() -> None:
    flag = RedFlag("chest_pain", "Call an ambulance or go to an emergency department now.")
    emergency = dataclasses.replace(
        TRIAGE, urgency=Urgency.EMERGENCY, red_flags=(flag,), allowed_types=()
    )
    message = intake_message(an_intake_of(emergency))
    assert list(message.offers) == []
    assert message.triage.emergency_care_advised
    assert message.triage.urgency == pb.URGENCY_EMERGENCY
    assert list(message.triage.red_flags) == [
        pb.RedFlag(symptom_code="chest_pain", advice=flag.advice)
    ]


def test_a_triaged_intake_keeps_the_tables_order_and_reads_back_its_symptoms() -> None:
    intake = an_intake(reported=SYMPTOMS, sex=None)
    message = intake_message(intake)
    assert [(c.code, c.name, c.score) for c in message.triage.likely_conditions] == [
        (c.code, c.name, c.score) for c in intake.triage.likely_conditions
    ]
    assert message.triage.rules_version == intake.triage.rules_version
    assert message.sex == pb.SEX_UNSPECIFIED
    assert symptoms_from(message.symptoms) == intake.symptoms
    assert [o.type for o in message.offers] == [
        pb.CONSULTATION_TYPE_CHAT,
        pb.CONSULTATION_TYPE_VIDEO,
        pb.CONSULTATION_TYPE_EMERGENCY,
    ]


def test_a_symptom_not_described_goes_out_unspecified_and_zero() -> None:
    assert symptom_message(ReportedSymptom("cough")) == pb.ReportedSymptom(code="cough")
    assert symptom_message(ReportedSymptom("cough", Severity.SEVERE, 21)) == pb.ReportedSymptom(
        code="cough", severity=pb.SYMPTOM_SEVERITY_SEVERE, days_since_onset=21
    )


def test_a_triage_alone_goes_out_as_it_was_found() -> None:
    assert triage_message(TRIAGE) == TRIAGE_MESSAGE


def test_a_checkout_awaiting_payment_carries_every_field_and_leaves_the_rest_unset() -> None:
    checkout = a_checkout()
    expected = pb.Checkout(
        id="checkout-1",
        intake_id="intake-1",
        patient_id="patient-1",
        type=pb.CONSULTATION_TYPE_CHAT,
        price=CHAT_PRICE,
        method=GATEWAY,
        status=checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT,
        payment_id="payment-checkout-1",
        checkout_url="https://pay.example/checkout-1/1",
        expires_at=ts(EXPIRES),
        created_at=ts(NOW),
        updated_at=ts(NOW),
    )
    message = checkout_message(checkout)
    assert message == expected
    assert pb.Checkout.FromString(message.SerializeToString()) == expected
    assert not message.HasField("payment_failure")
    assert method_from(message.method) is checkout.method
    assert consultation_type_from(message.type) is checkout.type
    assert money_from(message.price, "price") == checkout.price


def test_a_checkout_with_a_chosen_doctor_says_who_at_their_price() -> None:
    doctor = a_doctor(prices=PriceList({CHAT: Money(700_000, "IRR")}))
    message = checkout_message(a_checkout(doctor=doctor, method=PaymentMethod.WALLET))
    assert (message.doctor_id, message.price) == ("doctor-1", irr(700_000))
    assert message.method == checkout_pb2.PAYMENT_METHOD_WALLET


def test_a_failed_checkout_shows_the_failure_retryable_while_it_is_open() -> None:
    checkout = a_checkout()
    checkout.payment_failed(DECLINED, now=LATER)
    message = checkout_message(checkout)
    assert message.status == checkout_pb2.CHECKOUT_STATUS_PAYMENT_FAILED
    assert message.payment_failure == checkout_pb2.PaymentFailure(
        code="card_declined", message="Your card was declined.", retryable=True
    )
    assert message.updated_at == ts(LATER)
    checkout.expire(EXPIRES)
    expired = checkout_message(checkout)
    assert expired.status == checkout_pb2.CHECKOUT_STATUS_EXPIRED
    # Still says why, but nothing can retry an expired checkout.
    assert expired.payment_failure.code == "card_declined"
    assert not expired.payment_failure.retryable


def test_a_confirmed_checkout_names_its_clinical_session() -> None:
    checkout = a_checkout()
    confirm(checkout, at=LATER)
    message = checkout_message(checkout)
    assert message.status == checkout_pb2.CHECKOUT_STATUS_CONFIRMED
    assert message.clinical_session_id == "session-checkout-1"
    assert message.refund_reason == pb.REFUND_REASON_UNSPECIFIED


def test_a_refunded_checkout_says_why_and_a_later_duplicate_changes_nothing() -> None:
    checkout = a_checkout()
    confirm(checkout, at=LATER, amount=Money(1, "IRR"))
    confirm(checkout, at=LATER, payment_id="payment-2")
    message = checkout_message(checkout)
    assert message.status == checkout_pb2.CHECKOUT_STATUS_REFUNDED
    assert message.refund_reason == pb.REFUND_REASON_AMOUNT_MISMATCH
    assert message.clinical_session_id == ""


def test_a_clinical_session_carries_every_field_and_its_consultation_once_submitted() -> None:
    session = a_session(doctor=a_doctor())
    expected = pb.ClinicalSession(
        id="session-checkout-1",
        checkout_id="checkout-1",
        payment_id="payment-checkout-1",
        patient_id="patient-1",
        type=pb.CONSULTATION_TYPE_CHAT,
        doctor_id="doctor-1",
        status=pb.CLINICAL_SESSION_STATUS_AWAITING_SYMPTOMS,
        opened_at=ts(NOW),
        expires_at=ts(NOW + timedelta(hours=72)),
    )
    message = clinical_session_message(session)
    assert message == expected
    assert pb.ClinicalSession.FromString(message.SerializeToString()) == expected
    session.symptoms_submitted("patient-1", "consultation-1", LATER)
    submitted = clinical_session_message(session)
    assert submitted.status == pb.CLINICAL_SESSION_STATUS_SYMPTOMS_SUBMITTED
    assert submitted.consultation_id == "consultation-1"


def test_a_queued_consultation_has_no_doctor_and_no_times_but_its_creation() -> None:
    consultation = a_consultation(reported=SYMPTOMS)
    message = consultation_message(consultation)
    assert message.status == pb.CONSULTATION_STATUS_WAITING_FOR_DOCTOR
    assert (message.id, message.clinical_session_id, message.patient_id) == (
        "consultation-1",
        "session-checkout-1",
        "patient-1",
    )
    assert message.doctor_id == ""
    assert message.details == consultation.details
    assert message.triage == triage_message(consultation.triage)
    assert symptoms_from(message.symptoms) == consultation.symptoms
    assert message.created_at == ts(NOW)
    for unset in ("assigned_at", "accepted_at", "completed_at"):
        assert not message.HasField(unset)


def test_a_completed_consultation_carries_the_doctors_notes_and_every_time() -> None:
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.accept("doctor-1", LATER)
    consultation.complete("doctor-1", "Rest, fluids, paracetamol.", LATER + timedelta(hours=1))
    message = consultation_message(consultation)
    assert message.status == pb.CONSULTATION_STATUS_COMPLETED
    assert message.doctor_id == "doctor-1"
    assert message.notes == "Rest, fluids, paracetamol."
    assert (message.assigned_at, message.accepted_at, message.completed_at) == (
        ts(NOW),
        ts(LATER),
        ts(LATER + timedelta(hours=1)),
    )
    assert consultation_status_from(message.status) is consultation.status


def test_a_consultation_nobody_took_is_refunded_and_keeps_the_declines_to_itself() -> None:
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.decline("doctor-1", "Not my field", candidates=[], now=LATER)
    message = consultation_message(consultation)
    assert message.status == pb.CONSULTATION_STATUS_REFUNDED
    assert message.refund_reason == pb.REFUND_REASON_NO_DOCTOR_ACCEPTED
    assert "Not my field" not in str(message)


def test_a_chat_message_carries_its_sequence_and_sender() -> None:
    consultation = a_consultation(on_shift=[a_doctor()])
    posted = write_message(
        consultation, PATIENT, message_id="message-1", text="Still feverish.", now=LATER
    )
    assert chat_message(posted) == pb.ChatMessage(
        id="message-1",
        consultation_id="consultation-1",
        sequence=1,
        sender_id="patient-1",
        sender_role=pb.CHAT_ROLE_PATIENT,
        text="Still feverish.",
        sent_at=ts(LATER),
    )


def test_a_doctors_shifts_go_out_in_google_types_with_midnight_as_24_00() -> None:
    shifts = WeeklyShifts(
        (
            Shift(1, time(9), time(12, 30)),
            Shift(7, time(18), END_OF_DAY),
            Shift(6, time(0), time(6)),
        )
    )
    doctor = a_doctor(shifts=shifts)
    windows = [
        shift(dayofweek_pb2.MONDAY, hm(9), hm(12, 30)),
        shift(dayofweek_pb2.SUNDAY, hm(18), hm(24)),
        shift(dayofweek_pb2.SATURDAY, timeofday_pb2.TimeOfDay(), hm(6)),
    ]
    assert doctor_shifts_message(doctor) == pb.ListDoctorShiftsResponse(
        doctor_id="doctor-1", time_zone="Asia/Tehran", shifts=windows
    )
    assert doctor_shifts_set_message(doctor) == pb.SetDoctorShiftsResponse(
        doctor_id="doctor-1", time_zone="Asia/Tehran", shifts=windows
    )
    assert shifts_from(doctor_shifts_message(doctor).shifts) == shifts


def test_no_shifts_go_out_as_none() -> None:
    message = doctor_shifts_message(a_doctor(shifts=WeeklyShifts()))
    assert list(message.shifts) == []
    assert shift_message(Shift(3, time(8), time(8, 1))) == shift(
        dayofweek_pb2.WEDNESDAY, hm(8), hm(8, 1)
    )


def test_prices_go_out_in_type_order_for_a_doctor_or_the_platform() -> None:
    prices = PriceList({EMERGENCY: Money(1_500_000, "IRR"), CHAT: Money(500_000, "IRR")})
    expected = [
        pb.ConsultationPrice(type=pb.CONSULTATION_TYPE_CHAT, price=CHAT_PRICE),
        pb.ConsultationPrice(type=pb.CONSULTATION_TYPE_EMERGENCY, price=irr(1_500_000)),
    ]
    assert price_messages(prices) == expected
    assert prices_set_message("doctor-1", prices) == pb.SetConsultationPricesResponse(
        doctor_id="doctor-1", prices=expected
    )
    defaults = prices_set_message(None, PriceList())
    assert (defaults.doctor_id, list(defaults.prices)) == ("", [])


def test_set_prices_read_back_as_the_same_list() -> None:
    assert prices_from(price_messages(PRICES)) == PRICES


def test_an_audit_entry_names_who_read_what_from_where() -> None:
    entry = AuditEntry.of(
        entry_id="audit-1",
        caller=PATIENT,
        action="GetConsultation",
        subject_kind=SubjectKind.CLINICAL_SESSION,
        subject_id="session-1",
        now=NOW,
    )
    assert audit_entry_message(entry) == pb.AuditEntry(
        id="audit-1",
        actor_id="patient-1",
        actor_role="patient",
        action="GetConsultation",
        subject_kind="clinical_session",
        subject_id="session-1",
        client_address="203.0.113.7",
        user_agent="nobat-android/3.1",
        occurred_at=ts(NOW),
    )


def test_money_goes_out_as_minor_units_and_code() -> None:
    assert money_message(Money(500_000, "IRR")) == CHAT_PRICE


# Domain events -> published protos.


def test_a_paid_checkout_opens_a_session_and_tells_payment_it_is_fulfilled() -> None:
    checkout = a_checkout(doctor=a_doctor())
    session = confirm(checkout, at=LATER, doctor=a_doctor())
    assert session is not None
    (opened,) = session.events
    assert isinstance(opened, ClinicalSessionOpened)
    assert event_message(opened) == events_pb2.ClinicalSessionOpened(
        clinical_session_id="session-checkout-1",
        checkout_id="checkout-1",
        payment_id="payment-checkout-1",
        patient_id="patient-1",
        type=pb.CONSULTATION_TYPE_CHAT,
        doctor_id="doctor-1",
        opened_at=ts(LATER),
        expires_at=ts(LATER + timedelta(hours=72)),
    )
    (fulfilled,) = checkout.events
    assert isinstance(fulfilled, PurchaseFulfilled)
    assert event_message(fulfilled) == payment_events_pb2.PurchaseFulfilled(
        payment_id="payment-checkout-1", purchase=PURCHASE, fulfilled_at=ts(LATER)
    )


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ({"amount": Money(1, "IRR")}, "amount_mismatch"),
        ({"payment_id": "payment-2"}, "duplicate_payment"),
    ],
)
def test_a_payment_that_buys_nothing_is_rejected_to_payment_with_its_code(
    second: dict, reason: str
) -> None:
    checkout = a_checkout()
    if "payment_id" in second:
        confirm(checkout, at=NOW)
        checkout.events.clear()
    confirm(checkout, at=LATER, **second)
    (rejected,) = checkout.events
    assert isinstance(rejected, PurchaseRejected)
    assert event_message(rejected) == payment_events_pb2.PurchaseRejected(
        payment_id=second.get("payment_id", "payment-checkout-1"),
        purchase=PURCHASE,
        reason=reason,
        rejected_at=ts(LATER),
    )


def test_a_session_without_symptoms_asks_payment_for_the_whole_price_back() -> None:
    session = a_session()
    assert session.expire(session.expires_at)
    (refund,) = session.events
    assert isinstance(refund, RefundRequested)
    assert event_message(refund) == payment_events_pb2.RefundRequested(
        idempotency_key="consultation-refund:payment-checkout-1",
        payment_id="payment-checkout-1",
        purchase=PURCHASE,
        amount=CHAT_PRICE,
        reason="symptoms_not_submitted",
        # Unspecified: payment refunds the way the money came.
        destination=payment_service_pb2.REFUND_DESTINATION_UNSPECIFIED,
        requested_at=ts(session.expires_at),
    )


def test_a_queued_consultation_is_published_without_a_doctor_then_assigned() -> None:
    consultation = a_consultation()
    (created,) = consultation.events
    assert isinstance(created, ConsultationCreated)
    assert event_message(created) == events_pb2.ConsultationCreated(
        consultation_id="consultation-1",
        clinical_session_id="session-checkout-1",
        patient_id="patient-1",
        type=pb.CONSULTATION_TYPE_CHAT,
        urgency=pb.URGENCY_SOON,
        created_at=ts(NOW),
    )
    consultation.assign("doctor-2", LATER)
    assigned, paid = consultation.events[-2:]
    assert isinstance(assigned, ConsultationAssigned)
    # Payment learns the doctor it pays for the consultation now, on its own subject.
    assert event_message(paid) == payment_events_pb2.PayeeAssigned(
        payment_id=consultation.payment_id,
        purchase=PURCHASE,
        payee_kind=payment_service_pb2.PAYEE_KIND_DOCTOR,
        payee_id="doctor-2",
        assignment=1,
        assigned_at=ts(LATER),
    )
    assert event_message(assigned) == events_pb2.ConsultationAssigned(
        consultation_id="consultation-1",
        patient_id="patient-1",
        doctor_id="doctor-2",
        assigned_at=ts(LATER),
    )


def test_a_decline_is_published_without_its_reason_and_names_the_next_doctor() -> None:
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.events.clear()
    other = a_doctor("doctor-2")
    consultation.decline("doctor-1", "On leave tomorrow", candidates=candidates(other), now=LATER)
    declined, assigned, _ = consultation.events
    assert isinstance(declined, ConsultationDeclined)
    assert isinstance(assigned, ConsultationAssigned)
    assert event_message(declined) == events_pb2.ConsultationDeclined(
        consultation_id="consultation-1",
        patient_id="patient-1",
        doctor_id="doctor-1",
        declined_at=ts(LATER),
    )
    assert event_message(assigned) == events_pb2.ConsultationAssigned(
        consultation_id="consultation-1",
        patient_id="patient-1",
        doctor_id="doctor-2",
        previous_doctor_id="doctor-1",
        assigned_at=ts(LATER),
    )


def test_a_decline_with_nobody_left_asks_payment_for_the_refund() -> None:
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.events.clear()
    consultation.decline("doctor-1", "", candidates=[], now=LATER)
    _, paid, refund = consultation.events
    assert event_message(paid) == payment_events_pb2.PayeeAssigned(
        payment_id=consultation.payment_id,
        purchase=PURCHASE,
        payee_kind=payment_service_pb2.PAYEE_KIND_PLATFORM,
        # The second change: the doctor on shift was the first.
        assignment=2,
        assigned_at=ts(LATER),
    )
    published = event_message(refund)
    assert isinstance(published, payment_events_pb2.RefundRequested)
    assert (published.reason, published.purchase, published.amount) == (
        "no_doctor_accepted",
        PURCHASE,
        CHAT_PRICE,
    )


def test_acceptance_and_completion_are_published_with_their_times() -> None:
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.events.clear()
    consultation.accept("doctor-1", LATER)
    consultation.complete("doctor-1", "Rest.", LATER + timedelta(hours=1))
    accepted, completed = consultation.events
    assert isinstance(accepted, ConsultationAccepted)
    assert isinstance(completed, ConsultationCompleted)
    about = {
        "consultation_id": "consultation-1",
        "patient_id": "patient-1",
        "doctor_id": "doctor-1",
    }
    assert event_message(accepted) == events_pb2.ConsultationAccepted(
        **about, accepted_at=ts(LATER)
    )
    assert event_message(completed) == events_pb2.ConsultationCompleted(
        **about, completed_at=ts(LATER + timedelta(hours=1))
    )


def test_an_event_nobody_mapped_is_a_bug() -> None:
    with pytest.raises(TypeError, match="ConfirmedPayment"):
        event_message(ConfirmedPayment("payment-1", Money(1, "IRR"), NOW))


def test_every_event_the_domain_records_is_mapped() -> None:
    recorded = {
        value
        for module in (events, purchasing_events)
        for value in vars(module).values()
        if dataclasses.is_dataclass(value)
        and isinstance(value, type)
        and value.__module__ in (events.__name__, purchasing_events.__name__)
        and value is not purchasing_events.Purchase
    }
    assert recorded == set(messages._EVENTS)


# Privacy.


def _fields(descriptor: Descriptor, seen: set[str] | None = None) -> Iterator[FieldDescriptor]:
    seen = seen if seen is not None else set()
    if descriptor.full_name in seen:
        return
    seen.add(descriptor.full_name)
    for field in descriptor.fields:
        yield field
        if field.message_type is not None:
            yield from _fields(field.message_type, seen)


OUTGOING = [
    pb.Intake,
    pb.Checkout,
    pb.ClinicalSession,
    pb.Consultation,
    pb.ChatMessage,
    pb.AuditEntry,
    pb.ListDoctorShiftsResponse,
    pb.SetDoctorShiftsResponse,
    pb.SetConsultationPricesResponse,
    *(getattr(events_pb2, name) for name in events_pb2.DESCRIPTOR.message_types_by_name),
    payment_events_pb2.PurchaseFulfilled,
    payment_events_pb2.PurchaseRejected,
    payment_events_pb2.RefundRequested,
]


@pytest.mark.parametrize("message", OUTGOING, ids=lambda message: message.DESCRIPTOR.name)
def test_nothing_consultation_sends_has_a_place_for_a_national_id_or_a_phone(message) -> None:
    names = [field.name for field in _fields(message.DESCRIPTOR)]
    assert names
    assert not [name for name in names if "national" in name or "phone" in name]


@pytest.mark.parametrize(
    "message",
    [
        events_pb2.DESCRIPTOR.message_types_by_name[name]
        for name in events_pb2.DESCRIPTOR.message_types_by_name
    ],
    ids=lambda descriptor: descriptor.name,
)
def test_consultations_events_carry_ids_types_urgency_and_times_only(
    message: Descriptor,
) -> None:
    for field in message.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            assert field.name.endswith("_id"), field.name
        elif field.message_type is not None:
            assert field.message_type.full_name == "google.protobuf.Timestamp", field.name
        else:
            assert field.type == FieldDescriptor.TYPE_ENUM, field.name


# Proto -> domain.


def test_an_intake_request_comes_in_in_the_domains_terms() -> None:
    assert intake_request_from(intake_request()) == IntakeRequest(
        complaint="Sore throat and fever since yesterday.",
        symptoms=SYMPTOMS,
        age_years=30,
        sex=Sex.FEMALE,
    )


def test_what_the_patient_did_not_say_comes_in_as_none() -> None:
    request = intake_request(symptoms=[symptom("cough")], sex=pb.SEX_UNSPECIFIED, age_years=0)
    assert intake_request_from(request) == IntakeRequest(
        "Sore throat and fever since yesterday.", (ReportedSymptom("cough"),), 0, None
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"complaint": ""}, "complaint"),
        ({"complaint": " \n"}, "complaint"),
        ({"complaint": "x" * 2001}, "complaint"),
        ({"age_years": -1}, "age_years"),
        ({"age_years": 131}, "age_years"),
        ({"sex": 9}, "sex"),
        ({"symptoms": [symptom(), symptom("")]}, "symptoms[1].code"),
        ({"symptoms": [symptom("cough"), symptom(" ")]}, "symptoms[1].code"),
        ({"symptoms": [symptom(), symptom("cough"), symptom()]}, "symptoms[2].code"),
        ({"symptoms": [symptom(severity=4)]}, "symptoms[0].severity"),
        ({"symptoms": [symptom(days=-1)]}, "symptoms[0].days_since_onset"),
        ({"symptoms": [symptom(days=36_501)]}, "symptoms[0].days_since_onset"),
        ({"symptoms": [symptom(f"s{i}") for i in range(31)]}, "symptoms"),
    ],
)
def test_a_bad_intake_request_is_invalid_on_its_exact_field(overrides: dict, field: str) -> None:
    assert invalid_field(lambda: intake_request_from(intake_request(**overrides))) == field


def test_every_bad_intake_field_is_named_in_one_answer() -> None:
    request = intake_request(
        complaint="",
        symptoms=[symptom(severity=7, days=-2), symptom("")],
        age_years=200,
        sex=5,
    )
    assert invalid_fields(lambda: intake_request_from(request)) == [
        "complaint",
        "symptoms[0].severity",
        "symptoms[0].days_since_onset",
        "symptoms[1].code",
        "age_years",
        "sex",
    ]


def test_symptoms_are_named_under_the_field_they_came_in() -> None:
    given = [symptom(), symptom("fever", days=-1)]
    assert invalid_fields(lambda: symptoms_from(given, "intake.symptoms")) == [
        "intake.symptoms[1].code",
        "intake.symptoms[1].days_since_onset",
    ]
    assert symptoms_from([]) == ()


def test_a_submission_comes_in_with_its_session_details_and_symptoms() -> None:
    request = pb.SubmitSymptomsRequest(
        idempotency_key="key-1",
        clinical_session_id=SESSION_ID,
        details="38.5 °C this morning.",
        symptoms=SYMPTOM_MESSAGES,
    )
    assert submission_from(request) == SymptomsSubmission(
        SESSION_ID, "38.5 °C this morning.", SYMPTOMS
    )
    # The symptoms are optional: the intake's still count.
    assert (
        submission_from(
            pb.SubmitSymptomsRequest(clinical_session_id=SESSION_ID, details="Worse.")
        ).symptoms
        == ()
    )


def test_every_bad_submission_field_is_named_in_one_answer() -> None:
    request = pb.SubmitSymptomsRequest(
        clinical_session_id="session-1", details="x" * 5001, symptoms=[symptom(severity=-1)]
    )
    assert invalid_fields(lambda: submission_from(request)) == [
        "clinical_session_id",
        "details",
        "symptoms[0].severity",
    ]
    assert invalid_fields(lambda: submission_from(pb.SubmitSymptomsRequest())) == [
        "clinical_session_id",
        "details",
    ]


def test_a_consultation_type_is_the_domains_own_or_its_own_refusal() -> None:
    assert consultation_type_from(pb.CONSULTATION_TYPE_EMERGENCY) is EMERGENCY
    for value, sent in [(pb.CONSULTATION_TYPE_UNSPECIFIED, "UNSPECIFIED"), (9, "'9'")]:
        error = refused(lambda value=value: consultation_type_from(value))
        assert type(error).__name__ == "UnknownConsultationType"
        assert error.violations[0][0] == "type"
        assert sent in error.message
    assert invalid_field(lambda: consultation_type_from(0, "offer.type")) == "offer.type"


def test_a_method_is_required_unless_unspecified_means_something() -> None:
    assert method_from(checkout_pb2.PAYMENT_METHOD_WALLET) is PaymentMethod.WALLET
    assert invalid_field(lambda: method_from(checkout_pb2.PAYMENT_METHOD_UNSPECIFIED)) == "method"
    assert method_from(0, allow_unspecified=True) is None
    assert invalid_field(lambda: method_from(7, allow_unspecified=True)) == "method"


def test_sex_is_optional() -> None:
    assert sex_from(pb.SEX_OTHER) is Sex.OTHER
    assert sex_from(pb.SEX_UNSPECIFIED) is None


def test_shifts_come_in_in_order_with_24_00_and_00_00_ends_as_midnight() -> None:
    given = [
        shift(dayofweek_pb2.SUNDAY, hm(18), hm(24)),
        shift(dayofweek_pb2.SATURDAY, hm(20), timeofday_pb2.TimeOfDay()),
        shift(),
    ]
    assert shifts_from(given) == WeeklyShifts(
        (
            Shift(7, time(18), END_OF_DAY),
            Shift(6, time(20), END_OF_DAY),
            Shift(1, time(9), time(12, 30)),
        )
    )
    assert shifts_from([]) == WeeklyShifts()


@pytest.mark.parametrize(
    ("second", "path"),
    [
        (shift(dayofweek_pb2.DAY_OF_WEEK_UNSPECIFIED), "shifts[1].day_of_week"),
        (shift(8), "shifts[1].day_of_week"),
        (shift(start=hm(24)), "shifts[1].start_time"),
        (shift(start=hm(9, 60)), "shifts[1].start_time"),
        (shift(start=hm(-1)), "shifts[1].start_time"),
        (shift(end=hm(24, 30)), "shifts[1].end_time"),
        (shift(end=hm(25)), "shifts[1].end_time"),
        # Not whole minutes, or no later than the start: the domain's rules, on the same path.
        (shift(start=hm(9, seconds=30)), "shifts[1].start_time"),
        (shift(end=hm(12, nanos=1)), "shifts[1].end_time"),
        (shift(start=hm(13)), "shifts[1].end_time"),
        (shift(start=hm(9), end=hm(9)), "shifts[1].end_time"),
        # Overlapping the first, on the same day.
        (shift(dayofweek_pb2.TUESDAY, hm(12), hm(13)), "shifts[1]"),
    ],
)
def test_a_bad_shift_is_invalid_on_its_exact_field(second: pb.Shift, path: str) -> None:
    first = shift(dayofweek_pb2.TUESDAY)
    assert invalid_field(lambda: shifts_from([first, second])) == path


def test_every_bad_shift_field_is_named_in_one_answer_under_the_given_field() -> None:
    given = [shift(0, hm(25)), shift(start=hm(13)), shift(9, end=hm(24, 1))]
    assert invalid_fields(lambda: shifts_from(given, "pattern.shifts")) == [
        "pattern.shifts[0].start_time",
        "pattern.shifts[0].day_of_week",
        "pattern.shifts[1].end_time",
        "pattern.shifts[2].end_time",
        "pattern.shifts[2].day_of_week",
    ]
    overlapping = [shift(), shift(start=hm(10), end=hm(11))]
    assert invalid_field(lambda: shifts_from(overlapping, "pattern.shifts")) == (
        "pattern.shifts[1]"
    )


def test_prices_come_in_as_a_price_list() -> None:
    given = [price(pb.CONSULTATION_TYPE_VIDEO, 900_000), price(pb.CONSULTATION_TYPE_CHAT)]
    assert prices_from(given) == PriceList(
        {VIDEO: Money(900_000, "IRR"), CHAT: Money(500_000, "IRR")}
    )
    assert prices_from([]) == PriceList()


@pytest.mark.parametrize(
    ("second", "fields"),
    [
        (price(pb.CONSULTATION_TYPE_UNSPECIFIED), ["prices[1].type"]),
        (price(9), ["prices[1].type"]),
        (price(pb.CONSULTATION_TYPE_CHAT), ["prices[1].type"]),
        (price(pb.CONSULTATION_TYPE_VIDEO, 0), ["prices[1].price.amount_minor"]),
        (price(pb.CONSULTATION_TYPE_VIDEO, -5), ["prices[1].price.amount_minor"]),
        (price(pb.CONSULTATION_TYPE_VIDEO, currency="irr"), ["prices[1].price.currency"]),
        (price(pb.CONSULTATION_TYPE_VIDEO, currency="XYZ"), ["prices[1].price.currency"]),
        (price(pb.CONSULTATION_TYPE_VIDEO, 10**12 + 1), ["prices[1].price.amount_minor"]),
        (
            pb.ConsultationPrice(type=pb.CONSULTATION_TYPE_VIDEO),
            ["prices[1].price.currency", "prices[1].price.amount_minor"],
        ),
    ],
)
def test_a_bad_price_is_invalid_on_its_exact_field(
    second: pb.ConsultationPrice, fields: list[str]
) -> None:
    first = price(pb.CONSULTATION_TYPE_CHAT)
    assert invalid_fields(lambda: prices_from([first, second])) == fields


def test_every_bad_price_is_named_in_one_answer_under_the_given_field() -> None:
    given = [price(0, 0), price(pb.CONSULTATION_TYPE_EMERGENCY, currency="")]
    assert invalid_fields(lambda: prices_from(given, "defaults")) == [
        "defaults[0].type",
        "defaults[0].price.amount_minor",
        "defaults[1].price.currency",
    ]


def test_money_comes_in_as_domain_money() -> None:
    assert money_from(CHAT_PRICE, "amount") == Money(500_000, "IRR")


@pytest.mark.parametrize(
    ("money", "fields"),
    [
        (money_pb2.Money(), ["price"]),
        (money_pb2.Money(currency="IRR"), ["price.amount_minor"]),
        (irr(-5), ["price.amount_minor"]),
        (money_pb2.Money(amount_minor=100, currency="irr"), ["price.currency"]),
        (money_pb2.Money(amount_minor=100, currency="RIAL"), ["price.currency"]),
        (money_pb2.Money(amount_minor=-1, currency="I"), ["price.currency", "price.amount_minor"]),
        # Only what payment can charge: a currency of the table, within its limit.
        (money_pb2.Money(amount_minor=100, currency="XYZ"), ["price.currency"]),
        (irr(10**12 + 1), ["price.amount_minor"]),
    ],
)
def test_bad_money_is_invalid_on_its_exact_field(money: money_pb2.Money, fields: list[str]) -> None:
    assert invalid_fields(lambda: money_from(money, "price")) == fields


def test_an_id_consultation_gave_out_is_a_canonical_uuid() -> None:
    assert id_from(SESSION_ID, "clinical_session_id") == SESSION_ID
    assert optional_id_from("", "subject_id") is None
    assert optional_id_from(SESSION_ID, "subject_id") == SESSION_ID


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("", "intake_id", "is required"),
        ("intake-1", "intake_id", "must be an intake id like 3f2c"),
        (SESSION_ID.upper(), "checkout_id", "must be a checkout id like"),
        (SESSION_ID + " ", "consultation_id", "must be a consultation id like"),
        ("{" + SESSION_ID + "}", "clinical_session_id", "must be a session id like"),
        (SESSION_ID.replace("-", ""), "subject_id", "must be a subject id like"),
    ],
)
def test_anything_else_cannot_name_one(text: str, field: str, says: str) -> None:
    error = refused(lambda: id_from(text, field))
    assert [path for path, _ in error.violations] == [field]
    assert says in error.message
    if text:
        assert invalid_field(lambda: optional_id_from(text, field)) == field


def test_a_doctor_id_is_bookings_own_and_optional_unless_asked_for() -> None:
    assert doctor_id_from("dr-ahmadi") == "dr-ahmadi"
    assert doctor_id_from("") is None
    assert invalid_field(lambda: doctor_id_from("", required=True)) == "doctor_id"
    assert invalid_field(lambda: doctor_id_from("d" * 129)) == "doctor_id"
    assert doctor_id_from("d" * 128, "doctor_id") == "d" * 128


def test_an_unspecified_status_filter_is_every_status() -> None:
    assert consultation_status_from(0) is None
    assert consultation_status_from(pb.CONSULTATION_STATUS_IN_PROGRESS) is (
        ConsultationStatus.IN_PROGRESS
    )
    assert invalid_field(lambda: consultation_status_from(42)) == "status"


def confirmed(**overrides: object) -> payment_events_pb2.PaymentConfirmed:
    fields: dict = {
        "payment_id": "payment-checkout-1",
        "purchase": PURCHASE,
        "patient_id": "patient-1",
        "amount": CHAT_PRICE,
        "method": GATEWAY,
        "attempt_id": "attempt-1",
        "gateway_ref": "cs_1",
        "confirmed_at": ts(LATER),
    }
    fields.update(overrides)
    return payment_events_pb2.PaymentConfirmed(**fields)


def test_a_confirmed_payment_comes_in_as_what_consultation_decides_on() -> None:
    assert confirmed_payment_from(confirmed()) == ConfirmedPayment(
        "payment-checkout-1", Money(500_000, "IRR"), LATER
    )


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (confirmed(payment_id=""), "payment_id"),
        (confirmed(amount=None), "amount"),
        (confirmed(amount=irr(-1)), "amount.amount_minor"),
        (confirmed(amount=money_pb2.Money(currency="IRR")), "amount.amount_minor"),
        (confirmed(confirmed_at=None), "confirmed_at"),
    ],
)
def test_a_confirmed_payment_missing_a_fact_is_refused(
    message: payment_events_pb2.PaymentConfirmed, field: str
) -> None:
    assert invalid_field(lambda: confirmed_payment_from(message)) == field


# Enum pairings.


def _with(entity, **changes):
    for name, value in changes.items():
        setattr(entity, name, value)
    return entity


@pytest.mark.parametrize(
    ("decode", "proto", "prefix", "domain"),
    [
        (method_from, checkout_pb2.PaymentMethod, "PAYMENT_METHOD_", PaymentMethod),
        (consultation_type_from, pb.ConsultationType, "CONSULTATION_TYPE_", ConsultationType),
        (sex_from, pb.Sex, "SEX_", Sex),
        (
            consultation_status_from,
            pb.ConsultationStatus,
            "CONSULTATION_STATUS_",
            ConsultationStatus,
        ),
        (
            lambda value: symptoms_from([symptom(severity=value)])[0].severity,
            pb.SymptomSeverity,
            "SYMPTOM_SEVERITY_",
            Severity,
        ),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_every_proto_value_comes_in_as_the_domain_member_of_its_name(
    decode: Callable[[int], Enum | None], proto, prefix: str, domain: type[Enum]
) -> None:
    decoded = {proto.Name(value): decode(value) for value in proto.values() if value}
    assert decoded == {prefix + member.name: member for member in domain}


@pytest.mark.parametrize(
    ("encode", "proto", "prefix", "domain"),
    [
        (
            lambda status: checkout_message(_with(a_checkout(), status=status)).status,
            checkout_pb2.CheckoutStatus,
            "CHECKOUT_STATUS_",
            CheckoutStatus,
        ),
        (
            lambda status: clinical_session_message(_with(a_session(), status=status)).status,
            pb.ClinicalSessionStatus,
            "CLINICAL_SESSION_STATUS_",
            ClinicalSessionStatus,
        ),
        (
            lambda urgency: triage_message(dataclasses.replace(TRIAGE, urgency=urgency)).urgency,
            pb.Urgency,
            "URGENCY_",
            Urgency,
        ),
        (
            lambda role: (
                chat_message(
                    ChatMessage("m", "consultation-1", 1, "doctor-1", role, "hi", NOW)
                ).sender_role
            ),
            pb.ChatRole,
            "CHAT_ROLE_",
            ChatRole,
        ),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_every_domain_member_goes_out_as_the_proto_value_of_its_name(
    encode: Callable[[Enum], int], proto, prefix: str, domain: type[Enum]
) -> None:
    encoded = {member: proto.Name(encode(member)) for member in domain}
    assert encoded == {member: prefix + member.name for member in domain}
    assert len(proto.values()) - 1 == len(domain)


@pytest.mark.parametrize("reason", list(RefundReason))
def test_every_recorded_refund_reason_goes_out_as_the_value_of_its_name(
    reason: RefundReason,
) -> None:
    checkout = _with(a_checkout(), status=CheckoutStatus.REFUNDED, refund_reason=reason)
    message = checkout_message(checkout)
    assert pb.RefundReason.Name(message.refund_reason) == f"REFUND_REASON_{reason.name}"


def test_the_api_has_a_value_for_every_refund_reason_and_none_for_rejections_only() -> None:
    names = set(pb.RefundReason.keys()) - {"REFUND_REASON_UNSPECIFIED"}
    assert names == {f"REFUND_REASON_{r.name}" for r in RefundReason}
    assert not {"REFUND_REASON_DUPLICATE_PAYMENT", "REFUND_REASON_UNKNOWN_CHECKOUT"} & names


def test_every_day_of_the_week_comes_in_as_the_iso_day_of_its_name() -> None:
    iso = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
    days = [value for value in dayofweek_pb2.DayOfWeek.values() if value]
    decoded = shifts_from([shift(day) for day in days]).shifts
    assert [iso[s.day - 1] for s in decoded] == [dayofweek_pb2.DayOfWeek.Name(d) for d in days]


def test_an_enum_with_a_member_missing_on_either_side_stops_the_import() -> None:
    class Shrunk(Enum):
        CHAT = "chat"
        VIDEO = "video"

    with pytest.raises(RuntimeError, match="CONSULTATION_TYPE_EMERGENCY"):
        wire.enum_pair(Shrunk, pb.ConsultationType, "CONSULTATION_TYPE_")
