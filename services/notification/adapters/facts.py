"""Other contexts' events read as facts: who should hear of each and what to tell them.

Each fact's key is its own identity in the publishing context (the reservation, the
refund, the failed attempt), not the event's id, so the same news published twice under
two event ids (payment re-publishes, a replayed outbox row) is still one notification.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from nobat.booking.v1 import events_pb2 as booking
from nobat.common.v1 import money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as consultation_pb
from nobat.consultation.v1 import events_pb2 as consultation
from nobat.payment.v1 import events_pb2 as payment
from nobat.payment.v1 import payment_service_pb2 as payment_pb

from purchasing.kinds import WALLET_TOP_UP
from runtime.wire import timestamp_or_none
from services.notification.domain.facts import Audience, Fact, Kind, Phrase, Recipient, Value
from services.notification.domain.localized import Amount
from services.notification.domain.notification import DoctorListing
from services.notification.domain.templates import phrase_code

PATIENT, DOCTOR = Audience.PATIENT, Audience.DOCTOR


def _amount(message: money_pb2.Money) -> Amount | None:
    """None for an unset or zero amount: a sentence about it is left out."""
    if not message.currency or message.amount_minor == 0:
        return None
    return Amount(message.amount_minor, message.currency)


def _when(message: Timestamp, field: str) -> Value | None:
    return timestamp_or_none(message, field)


def _to(*pairs: tuple[str, Audience]) -> tuple[Recipient, ...]:
    """The recipients named; an empty id (no doctor yet) names nobody."""
    return tuple(Recipient(user_id, audience) for user_id, audience in pairs if user_id)


def _fact(
    kind: Kind,
    subject_id: str,
    recipients: tuple[Recipient, ...],
    *identity: str,
    details: dict[str, Value | None] | None = None,
    doctor_id: str = "",
) -> Fact:
    return Fact(
        kind,
        (kind.value, subject_id, *identity),
        subject_id,
        recipients,
        {name: value for name, value in (details or {}).items() if value is not None},
        doctor_id,
    )


def _enum_phrase(family: str, enum_type, value: int, prefix: str) -> Phrase:
    name = enum_type.Name(value) if value in enum_type.values() else ""
    return phrase_code(family, name.removeprefix(prefix).lower())


def reservation_confirmed(event: booking.ReservationConfirmed) -> Fact:
    return _fact(
        Kind.RESERVATION_CONFIRMED,
        event.reservation_id,
        _to((event.patient_id, PATIENT), (event.doctor_id, DOCTOR)),
        details={"when": _when(event.starts_at, "starts_at"), "price": _amount(event.price)},
        doctor_id=event.doctor_id,
    )


def reservation_cancelled(event: booking.ReservationCancelled) -> Fact:
    return _fact(
        Kind.RESERVATION_CANCELLED,
        event.reservation_id,
        _to((event.patient_id, PATIENT), (event.doctor_id, DOCTOR)),
        details={"when": _when(event.starts_at, "starts_at"), "refund": _amount(event.refund)},
        doctor_id=event.doctor_id,
    )


def doctor_listing(event: booking.DoctorUpdated) -> DoctorListing:
    doctor = event.doctor
    updated_at = timestamp_or_none(doctor.updated_at, "doctor.updated_at")
    if not doctor.id or updated_at is None:
        raise ValueError("a directory entry needs an id and an updated_at")
    return DoctorListing(doctor.id, doctor.display_name, doctor.time_zone, updated_at)


def consultation_created(event: consultation.ConsultationCreated) -> Fact:
    return _fact(
        Kind.CONSULTATION_CREATED,
        event.consultation_id,
        _to((event.patient_id, PATIENT), (event.doctor_id, DOCTOR)),
        details={
            "type": _enum_phrase(
                "type", consultation_pb.ConsultationType, event.type, "CONSULTATION_TYPE_"
            ),
            "urgency": _enum_phrase("urgency", consultation_pb.Urgency, event.urgency, "URGENCY_"),
            "unassigned": None if event.doctor_id else Phrase("unassigned"),
        },
        doctor_id=event.doctor_id,
    )


def consultation_assigned(event: consultation.ConsultationAssigned) -> Fact:
    return _fact(
        Kind.CONSULTATION_ASSIGNED,
        event.consultation_id,
        _to((event.patient_id, PATIENT), (event.doctor_id, DOCTOR)),
        event.doctor_id,
        doctor_id=event.doctor_id,
    )


def consultation_accepted(event: consultation.ConsultationAccepted) -> Fact:
    return _fact(
        Kind.CONSULTATION_ACCEPTED,
        event.consultation_id,
        _to((event.patient_id, PATIENT)),
        doctor_id=event.doctor_id,
    )


def consultation_declined(event: consultation.ConsultationDeclined) -> Fact:
    return _fact(
        Kind.CONSULTATION_DECLINED,
        event.consultation_id,
        _to((event.patient_id, PATIENT)),
        event.doctor_id,
        doctor_id=event.doctor_id,
    )


def consultation_completed(event: consultation.ConsultationCompleted) -> Fact:
    return _fact(
        Kind.CONSULTATION_COMPLETED,
        event.consultation_id,
        _to((event.patient_id, PATIENT)),
        doctor_id=event.doctor_id,
    )


def payment_failed(event: payment.PaymentFailed) -> Fact:
    failure = event.failure
    return _fact(
        Kind.PAYMENT_FAILED,
        event.payment_id,
        _to((event.patient_id, PATIENT)),
        # An attempt fails once; a wallet refusal has no attempt id but its own time.
        event.attempt_id or event.failed_at.ToJsonString(),
        details={
            "reason": phrase_code("failure", failure.code),
            "retry": Phrase("retry") if failure.retryable else None,
        },
    )


def payment_refunded(event: payment.PaymentRefunded) -> Fact:
    destination = (
        "wallet" if event.destination == payment_pb.REFUND_DESTINATION_WALLET else "original_method"
    )
    return _fact(
        Kind.PAYMENT_REFUNDED,
        event.payment_id,
        _to((event.patient_id, PATIENT)),
        event.refund_id,
        details={
            "amount": _amount(event.amount),
            "destination": Phrase(f"destination.{destination}"),
            "reason": phrase_code("refund", event.reason, fallback=False),
        },
    )


def symptoms_due(event: consultation.ClinicalSessionOpened) -> Fact:
    return _fact(
        Kind.SYMPTOMS_DUE,
        event.clinical_session_id,
        _to((event.patient_id, PATIENT)),
        details={
            "type": _enum_phrase(
                "type", consultation_pb.ConsultationType, event.type, "CONSULTATION_TYPE_"
            ),
            "by": _when(event.expires_at, "expires_at"),
        },
    )


def is_top_up(event: payment.PaymentConfirmed) -> bool:
    return event.purchase.kind == WALLET_TOP_UP.name


def wallet_topped_up(event: payment.PaymentConfirmed) -> Fact | None:
    """A top-up's confirmation is its credit (payment fulfils it in the same commit); any
    other purchase's confirmation is its purchasing context's to announce, as a record."""
    if not is_top_up(event):
        return None
    return _fact(
        Kind.WALLET_TOPPED_UP,
        event.payment_id,
        _to((event.patient_id, PATIENT)),
        details={"amount": _amount(event.amount)},
    )


def payout_released(event: payment.PayoutReleased) -> Fact:
    return _fact(
        Kind.PAYOUT_RELEASED,
        event.payout_id,
        _to((event.doctor_id, DOCTOR)),
        details={"net": _amount(event.net), "gross": _amount(event.gross)},
    )
