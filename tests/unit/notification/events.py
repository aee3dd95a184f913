"""Other contexts' events, as their relays publish them, for notification's tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.booking.v1 import events_pb2 as booking
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.consultation.v1 import events_pb2 as consultation
from nobat.payment.v1 import events_pb2 as payment
from nobat.payment.v1 import payment_service_pb2 as ppb

# Sunday 3 May 2026, 09:30 in Tehran: 13 Ordibehesht 1405.
STARTS_AT = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def at(instant: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(instant)
    return stamp


def money(amount_minor: int, currency: str = "IRR") -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)


def doctor_updated(doctor_id: str, name: str = "Dr. Rostami") -> booking.DoctorUpdated:
    return booking.DoctorUpdated(
        doctor=bpb.Doctor(
            id=doctor_id,
            display_name=name,
            specialty="general",
            time_zone="Asia/Tehran",
            appointment_fee=money(5_000_000),
            active=True,
            updated_at=at(datetime.now(UTC)),
        )
    )


def reservation_confirmed(
    patient_id: str, doctor_id: str, reservation_id: str | None = None
) -> booking.ReservationConfirmed:
    return booking.ReservationConfirmed(
        reservation_id=reservation_id or new_id(),
        checkout_id=new_id(),
        payment_id=new_id(),
        slot_id=new_id(),
        doctor_id=doctor_id,
        patient_id=patient_id,
        starts_at=at(STARTS_AT),
        ends_at=at(STARTS_AT.replace(minute=30)),
        price=money(5_000_000),
        confirmed_at=at(datetime.now(UTC)),
    )


def payment_failed(patient_id: str) -> payment.PaymentFailed:
    return payment.PaymentFailed(
        payment_id=new_id(),
        purchase=ppb.Purchase(kind="booking", ref=new_id()),
        patient_id=patient_id,
        attempt_id=new_id(),
        method=checkout_pb2.PAYMENT_METHOD_GATEWAY,
        failure=checkout_pb2.PaymentFailure(
            code="card_declined", message="Your card was declined.", retryable=True
        ),
        failed_at=at(datetime.now(UTC)),
    )


def payment_refunded(patient_id: str, amount_minor: int = 1_250_050) -> payment.PaymentRefunded:
    return payment.PaymentRefunded(
        payment_id=new_id(),
        purchase=ppb.Purchase(kind="booking", ref=new_id()),
        patient_id=patient_id,
        refund_id=new_id(),
        amount=money(amount_minor, "USD"),
        refunded_total=money(amount_minor, "USD"),
        full=True,
        reason="slot_taken",
        destination=ppb.REFUND_DESTINATION_ORIGINAL_METHOD,
        refunded_at=at(datetime.now(UTC)),
    )


def payout_released(doctor_id: str) -> payment.PayoutReleased:
    return payment.PayoutReleased(
        payout_id=new_id(),
        doctor_id=doctor_id,
        payment_id=new_id(),
        gross=money(10_000_000),
        net=money(9_410_000),
        released_at=at(datetime.now(UTC)),
    )


def consultation_created(patient_id: str, doctor_id: str = "") -> consultation.ConsultationCreated:
    return consultation.ConsultationCreated(
        consultation_id=new_id(),
        clinical_session_id=new_id(),
        patient_id=patient_id,
        doctor_id=doctor_id,
        type=cpb.CONSULTATION_TYPE_VIDEO,
        urgency=cpb.URGENCY_SOON,
        created_at=at(datetime.now(UTC)),
    )
