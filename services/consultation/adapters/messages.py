"""The translation between consultation's protos and its domain, for the gRPC servicer, the
event consumer and the outbox. Nothing is decided here: every rule about symptoms, prices,
shifts or states is the domain's; this module only moves values across, runs the domain's
own checks on what a request brings, and names the proto field a bad value came from, so
the caller sees INVALID_ARGUMENT on the right field (`symptoms[2].code`,
`shifts[0].end_time`), every bad field in one answer.

Consultation publishes its own events (nobat.consultation.v1: ids, types, urgency and
times only) and payment's inbound purchase messages (nobat.payment.v1, with
Purchase(kind="consultation", ref=the checkout id)). Nothing here has a place for a
national id or a phone number: the domain holds neither, and no message carries one.

Enums are paired by name (ConsultationStatus.IN_PROGRESS is
CONSULTATION_STATUS_IN_PROGRESS), and every pairing is checked when the module is imported
(see `runtime.wire.enum_pair`). Shift days are ISO numbers (1 is Monday) on both sides, as
google.type.DayOfWeek numbers them; that too is checked at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from types import MappingProxyType
from typing import Any, Literal, overload

from google.protobuf.message import Message
from google.type import dayofweek_pb2
from nobat.consultation.v1 import consultation_service_pb2, events_pb2

from purchasing.messages import (
    method_from,
    outcome_messages,
    payment_progress_fields,
)
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.wire import (
    Violations,
    enum_pair,
    event_proto,
    field_required,
    gathered,
    id_from,
    money_message,
    optional_timestamp,
    rooted,
    time_of_day_from,
    time_of_day_message,
    timestamp,
    timestamp_or_none,
)
from services.consultation.domain import events
from services.consultation.domain.audit import AuditEntry
from services.consultation.domain.chat import ChatMessage, ChatRole
from services.consultation.domain.checkout import Checkout
from services.consultation.domain.consultation import (
    MAX_DETAILS_LENGTH,
    Consultation,
    ConsultationStatus,
)
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.events import RefundReason
from services.consultation.domain.intake import MAX_COMPLAINT_LENGTH, Intake, text_violations
from services.consultation.domain.offers import ConsultationType, PriceList, price_list
from services.consultation.domain.session import ClinicalSession, ClinicalSessionStatus
from services.consultation.domain.shifts import END_OF_DAY, Shift, WeeklyShifts
from services.consultation.domain.triage import (
    MAX_AGE_YEARS,
    ReportedSymptom,
    Severity,
    Sex,
    Triage,
    Urgency,
    symptom_violations,
)

__all__ = [
    "IntakeRequest",
    "SymptomsSubmission",
    "audit_entry_message",
    "chat_message",
    "checkout_message",
    "clinical_session_message",
    "consultation_message",
    "consultation_status_from",
    "consultation_type_from",
    "doctor_id_from",
    "doctor_shifts_message",
    "doctor_shifts_set_message",
    "event_message",
    "id_from",
    "intake_message",
    "intake_request_from",
    "method_from",
    "optional_id_from",
    "price_messages",
    "prices_from",
    "prices_set_message",
    "sex_from",
    "shift_message",
    "shifts_from",
    "submission_from",
    "symptom_message",
    "symptoms_from",
    "timestamp",
    "timestamp_or_none",
    "triage_message",
]

pb = consultation_service_pb2

# Booking's directory takes doctor ids up to this long; a longer one names no doctor.
MAX_DOCTOR_ID_LENGTH = 128

_SEXES = enum_pair(Sex, pb.Sex, "SEX_")
_SEVERITIES = enum_pair(Severity, pb.SymptomSeverity, "SYMPTOM_SEVERITY_")
_URGENCIES = enum_pair(Urgency, pb.Urgency, "URGENCY_")
_TYPES = enum_pair(ConsultationType, pb.ConsultationType, "CONSULTATION_TYPE_")
_SESSION_STATUSES = enum_pair(
    ClinicalSessionStatus, pb.ClinicalSessionStatus, "CLINICAL_SESSION_STATUS_"
)
_CONSULTATION_STATUSES = enum_pair(
    ConsultationStatus, pb.ConsultationStatus, "CONSULTATION_STATUS_"
)
_CHAT_ROLES = enum_pair(ChatRole, pb.ChatRole, "CHAT_ROLE_")

_REFUND_REASONS = enum_pair(RefundReason, pb.RefundReason, "REFUND_REASON_")

_ISO_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
# Shift.day goes on the wire as it is, so the proto must number the days as ISO does.
if [dayofweek_pb2.DayOfWeek.Value(name) for name in _ISO_DAYS] != list(range(1, 8)):
    raise RuntimeError("google.type.DayOfWeek no longer numbers days as ISO 8601 does")


# Domain -> proto.


def symptom_message(symptom: ReportedSymptom) -> pb.ReportedSymptom:
    # Not said is unspecified and 0 on the wire, as the proto says.
    return pb.ReportedSymptom(
        code=symptom.code,
        severity=_SEVERITIES.proto_of(symptom.severity),
        days_since_onset=symptom.days_since_onset or 0,
    )


def triage_message(triage: Triage) -> pb.Triage:
    return pb.Triage(
        likely_conditions=[
            pb.LikelyCondition(code=condition.code, name=condition.name, score=condition.score)
            for condition in triage.likely_conditions
        ],
        urgency=_URGENCIES.to_proto[triage.urgency],
        red_flags=[
            pb.RedFlag(symptom_code=flag.symptom_code, advice=flag.advice)
            for flag in triage.red_flags
        ],
        emergency_care_advised=triage.emergency_care_advised,
        rules_version=triage.rules_version,
    )


def _price(consultation_type: ConsultationType, price: Money) -> pb.ConsultationPrice:
    return pb.ConsultationPrice(type=_TYPES.to_proto[consultation_type], price=money_message(price))


def price_messages(prices: PriceList) -> list[pb.ConsultationPrice]:
    """Every price the list holds, in the order of ConsultationType."""
    return [
        _price(kind, price) for kind in ConsultationType if (price := prices.get(kind)) is not None
    ]


def intake_message(intake: Intake) -> pb.Intake:
    return pb.Intake(
        id=intake.id,
        patient_id=intake.patient_id,
        complaint=intake.complaint,
        symptoms=[symptom_message(symptom) for symptom in intake.symptoms],
        age_years=intake.age_years,
        sex=_SEXES.proto_of(intake.sex),
        triage=triage_message(intake.triage),
        offers=[_price(offer.type, offer.price) for offer in intake.offers],
        created_at=timestamp(intake.created_at),
        expires_at=timestamp(intake.expires_at),
    )


def checkout_message(checkout: Checkout) -> pb.Checkout:
    return pb.Checkout(
        id=checkout.id,
        intake_id=checkout.intake_id,
        patient_id=checkout.patient_id,
        type=_TYPES.to_proto[checkout.type],
        doctor_id=checkout.doctor_id or "",
        price=money_message(checkout.price),
        **payment_progress_fields(checkout),
        expires_at=timestamp(checkout.expires_at),
        clinical_session_id=checkout.clinical_session_id or "",
        refund_reason=_REFUND_REASONS.proto_of(checkout.refund_reason),
    )


def clinical_session_message(session: ClinicalSession) -> pb.ClinicalSession:
    return pb.ClinicalSession(
        id=session.id,
        checkout_id=session.checkout_id,
        payment_id=session.payment_id,
        patient_id=session.patient_id,
        type=_TYPES.to_proto[session.type],
        doctor_id=session.doctor_id or "",
        status=_SESSION_STATUSES.to_proto[session.status],
        consultation_id=session.consultation_id or "",
        opened_at=timestamp(session.opened_at),
        expires_at=timestamp(session.expires_at),
    )


def consultation_message(consultation: Consultation) -> pb.Consultation:
    """What the patient, the assigned doctor and staff see. Declines (and their reasons),
    the payment and the price stay inside; who may see the rest is the handler's call."""
    return pb.Consultation(
        id=consultation.id,
        clinical_session_id=consultation.clinical_session_id,
        patient_id=consultation.patient_id,
        doctor_id=consultation.doctor_id or "",
        type=_TYPES.to_proto[consultation.type],
        status=_CONSULTATION_STATUSES.to_proto[consultation.status],
        details=consultation.details,
        symptoms=[symptom_message(symptom) for symptom in consultation.symptoms],
        triage=triage_message(consultation.triage),
        notes=consultation.notes,
        refund_reason=_REFUND_REASONS.proto_of(consultation.refund_reason),
        created_at=timestamp(consultation.created_at),
        assigned_at=optional_timestamp(consultation.assigned_at),
        accepted_at=optional_timestamp(consultation.accepted_at),
        completed_at=optional_timestamp(consultation.completed_at),
    )


def chat_message(message: ChatMessage) -> pb.ChatMessage:
    return pb.ChatMessage(
        id=message.id,
        consultation_id=message.consultation_id,
        sequence=message.sequence,
        sender_id=message.sender_id,
        sender_role=_CHAT_ROLES.to_proto[message.sender_role],
        text=message.text,
        sent_at=timestamp(message.sent_at),
    )


def shift_message(shift: Shift) -> pb.Shift:
    return pb.Shift(
        day_of_week=shift.day,
        start_time=time_of_day_message(shift.start),
        end_time=time_of_day_message(shift.end, end=True),
    )


def _shifts_of(doctor: Doctor) -> dict[str, Any]:
    return {
        "doctor_id": doctor.id,
        "time_zone": doctor.time_zone,
        "shifts": [shift_message(shift) for shift in doctor.shifts.shifts],
    }


def doctor_shifts_message(doctor: Doctor) -> pb.ListDoctorShiftsResponse:
    return pb.ListDoctorShiftsResponse(**_shifts_of(doctor))


def doctor_shifts_set_message(doctor: Doctor) -> pb.SetDoctorShiftsResponse:
    return pb.SetDoctorShiftsResponse(**_shifts_of(doctor))


def prices_set_message(
    doctor_id: str | None, prices: PriceList
) -> pb.SetConsultationPricesResponse:
    """The prices now in force for `doctor_id`, or the platform defaults for None."""
    return pb.SetConsultationPricesResponse(
        doctor_id=doctor_id or "", prices=price_messages(prices)
    )


def audit_entry_message(entry: AuditEntry) -> pb.AuditEntry:
    return pb.AuditEntry(
        id=entry.id,
        actor_id=entry.actor_id,
        actor_role=entry.actor_role.value,
        action=entry.action,
        subject_kind=entry.subject_kind.value,
        subject_id=entry.subject_id,
        client_address=entry.client_address,
        user_agent=entry.user_agent,
        occurred_at=timestamp(entry.occurred_at),
    )


# Domain events -> the published protos: consultation's own, and payment's inbound messages.


def _session_opened(event: events.ClinicalSessionOpened) -> events_pb2.ClinicalSessionOpened:
    return events_pb2.ClinicalSessionOpened(
        clinical_session_id=event.clinical_session_id,
        checkout_id=event.checkout_id,
        payment_id=event.payment_id,
        patient_id=event.patient_id,
        type=_TYPES.to_proto[event.type],
        doctor_id=event.doctor_id or "",
        opened_at=timestamp(event.opened_at),
        expires_at=timestamp(event.expires_at),
    )


def _created(event: events.ConsultationCreated) -> events_pb2.ConsultationCreated:
    return events_pb2.ConsultationCreated(
        consultation_id=event.consultation_id,
        clinical_session_id=event.clinical_session_id,
        patient_id=event.patient_id,
        doctor_id=event.doctor_id or "",
        type=_TYPES.to_proto[event.type],
        urgency=_URGENCIES.to_proto[event.urgency],
        created_at=timestamp(event.created_at),
    )


def _assigned(event: events.ConsultationAssigned) -> events_pb2.ConsultationAssigned:
    return events_pb2.ConsultationAssigned(
        consultation_id=event.consultation_id,
        patient_id=event.patient_id,
        doctor_id=event.doctor_id,
        previous_doctor_id=event.previous_doctor_id or "",
        assigned_at=timestamp(event.assigned_at),
    )


def _accepted(event: events.ConsultationAccepted) -> events_pb2.ConsultationAccepted:
    return events_pb2.ConsultationAccepted(
        consultation_id=event.consultation_id,
        patient_id=event.patient_id,
        doctor_id=event.doctor_id,
        accepted_at=timestamp(event.accepted_at),
    )


def _declined(event: events.ConsultationDeclined) -> events_pb2.ConsultationDeclined:
    # The doctor's reason is free text and stays with the consultation.
    return events_pb2.ConsultationDeclined(
        consultation_id=event.consultation_id,
        patient_id=event.patient_id,
        doctor_id=event.doctor_id,
        declined_at=timestamp(event.declined_at),
    )


def _completed(event: events.ConsultationCompleted) -> events_pb2.ConsultationCompleted:
    return events_pb2.ConsultationCompleted(
        consultation_id=event.consultation_id,
        patient_id=event.patient_id,
        doctor_id=event.doctor_id,
        completed_at=timestamp(event.completed_at),
    )


_EVENTS: Mapping[type, Callable[[Any], Message]] = MappingProxyType(
    {
        events.ClinicalSessionOpened: _session_opened,
        events.ConsultationCreated: _created,
        events.ConsultationAssigned: _assigned,
        events.ConsultationAccepted: _accepted,
        events.ConsultationDeclined: _declined,
        events.ConsultationCompleted: _completed,
        **outcome_messages(),
    }
)


def event_message(event: object) -> Message:
    """The proto to publish for a domain event: every event consultation records is
    published, and one nobody mapped is a TypeError."""
    return event_proto(_EVENTS, event)


# Proto -> domain, for requests and consumed events.


def _type_name(value: int) -> str:
    """The domain's name of a proto ConsultationType, or what was sent as it was sent, for
    ConsultationType.named to judge."""
    member = _TYPES.from_proto.get(value)
    if member is not None:
        return member.value
    if value in pb.ConsultationType.values():
        return pb.ConsultationType.Name(pb.ConsultationType.ValueType(value))
    return str(value)


def consultation_type_from(value: int, field: str = "type") -> ConsultationType:
    """A consultation type; unspecified or unknown is the domain's UnknownConsultationType."""
    return ConsultationType.named(_type_name(value), field)


def sex_from(value: int, field: str = "sex") -> Sex | None:
    """None (unspecified) when the patient did not say; it rules nothing out in triage."""
    return _SEXES.optional(value, field)


def _symptom_from(message: pb.ReportedSymptom, path: str, bad: Violations) -> ReportedSymptom:
    # Unspecified and 0 are "did not say", as the proto says; a negative count is kept
    # for the domain to refuse.
    severity = gathered(bad, _SEVERITIES.optional, message.severity, f"{path}.severity")
    return ReportedSymptom(message.code, severity, message.days_since_onset or None)


def symptoms_from(
    messages: Sequence[pb.ReportedSymptom], field: str = "symptoms"
) -> tuple[ReportedSymptom, ...]:
    """The symptoms as reported, checked as triage.symptom_violations does (codes given
    once each, days in range, not too many) under `field[i]`; whether each code is known
    is the triage's to say, on the same paths."""
    bad: Violations = []
    found = tuple(
        _symptom_from(message, f"{field}[{index}]", bad) for index, message in enumerate(messages)
    )
    bad += symptom_violations(found, field)
    if bad:
        raise InvalidArgument.many(bad)
    return found


def _symptoms_gathered(
    messages: Sequence[pb.ReportedSymptom], bad: Violations
) -> tuple[ReportedSymptom, ...]:
    return gathered(bad, symptoms_from, messages) or ()


@dataclass(frozen=True)
class IntakeRequest:
    """A StartIntakeRequest's content, in the domain's terms, for open_intake."""

    complaint: str
    symptoms: tuple[ReportedSymptom, ...]
    age_years: int
    sex: Sex | None


def intake_request_from(request: pb.StartIntakeRequest) -> IntakeRequest:
    """The intake asked for, every bad field named in one answer: the complaint (not blank,
    at most 2000 characters), the symptoms, the age (0 to 130) and the sex."""
    bad = text_violations(request.complaint, "complaint", MAX_COMPLAINT_LENGTH)
    symptoms = _symptoms_gathered(request.symptoms, bad)
    if not 0 <= request.age_years <= MAX_AGE_YEARS:
        bad.append(("age_years", f"must be from 0 to {MAX_AGE_YEARS}"))
    sex = gathered(bad, sex_from, request.sex)
    if bad:
        raise InvalidArgument.many(bad)
    return IntakeRequest(request.complaint, symptoms, request.age_years, sex)


@dataclass(frozen=True)
class SymptomsSubmission:
    """A SubmitSymptomsRequest's content, in the domain's terms, for open_consultation."""

    clinical_session_id: str
    details: str
    symptoms: tuple[ReportedSymptom, ...]


def submission_from(request: pb.SubmitSymptomsRequest) -> SymptomsSubmission:
    """The submission, every bad field named in one answer: the session's id, the details
    (not blank, at most 5000 characters) and the symptoms."""
    bad: Violations = []
    gathered(bad, id_from, request.clinical_session_id, "clinical_session_id")
    bad += text_violations(request.details, "details", MAX_DETAILS_LENGTH)
    symptoms = _symptoms_gathered(request.symptoms, bad)
    if bad:
        raise InvalidArgument.many(bad)
    return SymptomsSubmission(request.clinical_session_id, request.details, symptoms)


def shifts_from(messages: Iterable[pb.Shift], field: str = "shifts") -> WeeklyShifts:
    """The whole weekly pattern as given, judged by Shift and WeeklyShifts (a day, whole
    minutes, an end after the start, no overlaps) under `field[i]`. An end of 00:00 or
    24:00 runs to midnight."""
    shifts: list[Shift] = []
    bad: Violations = []
    for index, message in enumerate(messages):
        path = f"{field}[{index}]"
        start = gathered(bad, time_of_day_from, message.start_time, f"{path}.start_time")
        end = gathered(bad, time_of_day_from, message.end_time, f"{path}.end_time", True)
        if start is None or end is None:
            # Only the day is left to judge, and a whole day has nothing else wrong.
            start, end = time(0), END_OF_DAY
        shift = Shift(message.day_of_week, start, end)
        bad += shift.violations(path)
        shifts.append(shift)
    if bad:
        raise InvalidArgument.many(bad)
    with rooted("shifts", field):
        return WeeklyShifts(tuple(shifts))


def prices_from(prices: Iterable[pb.ConsultationPrice], field: str = "prices") -> PriceList:
    """A price list as offers.price_list judges it (a known type, priced once, more than
    zero in an ISO 4217 code) under `field[i]`."""
    return price_list(
        [
            (_type_name(entry.type), entry.price.amount_minor, entry.price.currency)
            for entry in prices
        ],
        field,
    )


def optional_id_from(text: str, field: str) -> str | None:
    """A filter on an id consultation gave out: None (empty) means any."""
    return id_from(text, field) if text else None


@overload
def doctor_id_from(text: str, field: str = ..., *, required: Literal[True]) -> str: ...
@overload
def doctor_id_from(text: str, field: str = ..., *, required: bool = ...) -> str | None: ...
def doctor_id_from(text: str, field: str = "doctor_id", *, required: bool = False) -> str | None:
    """A doctor from booking's directory, whose ids are booking's choice, so only their
    length is checked; None when empty and not required (assignment picks one, or the
    platform defaults are meant)."""
    if not text:
        if required:
            raise field_required(field)
        return None
    if len(text) > MAX_DOCTOR_ID_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_DOCTOR_ID_LENGTH} characters")
    return text


def consultation_status_from(value: int, field: str = "status") -> ConsultationStatus | None:
    """A list filter: None (unspecified) means every status."""
    return _CONSULTATION_STATUSES.optional(value, field)


def clinical_session_status_from(value: int, field: str = "status") -> ClinicalSessionStatus | None:
    """A list filter: None (unspecified) means every status."""
    return _SESSION_STATUSES.optional(value, field)
