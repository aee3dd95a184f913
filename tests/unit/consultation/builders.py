"""Small builders for consultation's domain objects, with defaults a test overrides by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta

from purchasing.checkout import ConfirmedPayment, PaymentFailure, PaymentMethod
from runtime.money import Money
from services.consultation.domain.assignment import Candidate
from services.consultation.domain.caller import Caller, Role
from services.consultation.domain.checkout import Checkout, open_checkout
from services.consultation.domain.consultation import Consultation, open_consultation
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.intake import Intake, open_intake
from services.consultation.domain.offers import ConsultationType, PriceList
from services.consultation.domain.rule_table import load_rule_table
from services.consultation.domain.session import ClinicalSession
from services.consultation.domain.shifts import END_OF_DAY, Shift, WeeklyShifts
from services.consultation.domain.triage import ReportedSymptom, Sex

# A Monday, 11:30 in Tehran.
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
RULES = load_rule_table()
CHAT = ConsultationType.CHAT
VIDEO = ConsultationType.VIDEO
EMERGENCY = ConsultationType.EMERGENCY
PRICES = PriceList(
    {
        CHAT: Money(500_000, "IRR"),
        VIDEO: Money(900_000, "IRR"),
        EMERGENCY: Money(1_500_000, "IRR"),
    }
)
DECLINED = PaymentFailure("card_declined", "Your card was declined.", retryable=True)
CANCELED_FOR_GOOD = PaymentFailure("canceled", "The payment was cancelled.", retryable=False)
ALWAYS = WeeklyShifts(tuple(Shift(day, time(0), END_OF_DAY) for day in range(1, 8)))
NEVER = WeeklyShifts()
PATIENT = Caller("patient-1", Role.PATIENT, "203.0.113.7", "nobat-android/3.1")
SORE_THROAT = (ReportedSymptom("sore_throat"), ReportedSymptom("fever"))


def symptoms(*codes: str) -> list[ReportedSymptom]:
    return [ReportedSymptom(code) for code in codes]


def doctor_caller(doctor_id: str = "doctor-1") -> Caller:
    return Caller(doctor_id, Role.DOCTOR)


def an_intake(
    reported: Sequence[ReportedSymptom] = SORE_THROAT,
    *,
    patient_id: str = "patient-1",
    intake_id: str = "intake-1",
    age_years: int = 30,
    sex: Sex | None = Sex.FEMALE,
    now: datetime = NOW,
    prices: PriceList = PRICES,
) -> Intake:
    return open_intake(
        intake_id=intake_id,
        patient_id=patient_id,
        complaint="Sore throat and fever since yesterday.",
        symptoms=reported,
        age_years=age_years,
        sex=sex,
        triage=RULES,
        prices=prices,
        now=now,
    )


def a_doctor(
    doctor_id: str = "doctor-1",
    *,
    time_zone: str = "Asia/Tehran",
    active: bool = True,
    shifts: WeeklyShifts = ALWAYS,
    prices: PriceList | None = None,
) -> Doctor:
    return Doctor(
        doctor_id,
        time_zone,
        active,
        NOW - timedelta(days=30),
        shifts,
        prices or PriceList(),
    )


def a_checkout(
    intake: Intake | None = None,
    *,
    checkout_id: str = "checkout-1",
    consultation_type: ConsultationType = CHAT,
    doctor: Doctor | None = None,
    method: PaymentMethod = PaymentMethod.GATEWAY,
    now: datetime = NOW,
) -> Checkout:
    """A started checkout whose first payment attempt is open (see attempt_opened)."""
    checkout = open_checkout(
        checkout_id=checkout_id,
        intake=intake or an_intake(now=now),
        patient_id="patient-1",
        consultation_type=consultation_type,
        doctor=doctor,
        method=method,
        now=now,
    )
    return attempt_opened(checkout, now)


def attempt_opened(checkout: Checkout, now: datetime = NOW) -> Checkout:
    """Payment opened the checkout's current attempt: payment-<checkout id> and
    attempt-<checkout id>-<attempt number>."""
    checkout.payment_created(
        payment_id=f"payment-{checkout.id}",
        attempt_id=f"attempt-{checkout.id}-{checkout.attempt}",
        checkout_url=f"https://pay.example/{checkout.id}/{checkout.attempt}",
        now=now,
    )
    return checkout


def confirm(
    checkout: Checkout,
    *,
    at: datetime = NOW,
    amount: Money | None = None,
    payment_id: str | None = None,
    doctor: Doctor | None = None,
    session_id: str | None = None,
) -> ClinicalSession | None:
    """Payment confirms `checkout`: by default its own payment (see attempt_opened), for
    the checkout's price, at `at`; the session, if any, is session-<checkout id>."""
    return checkout.payment_confirmed(
        ConfirmedPayment(
            payment_id or f"payment-{checkout.id}", amount or checkout.price, confirmed_at=at
        ),
        doctor=doctor,
        clinical_session_id=session_id or f"session-{checkout.id}",
        now=at,
    )


def a_session(
    intake: Intake | None = None, *, doctor: Doctor | None = None, at: datetime = NOW
) -> ClinicalSession:
    """A paid clinical session awaiting symptoms, its events already sent."""
    checkout = a_checkout(intake, doctor=doctor, now=at)
    session = confirm(checkout, at=at, doctor=doctor)
    assert session is not None
    session.events.clear()
    return session


def candidates(*doctors: Doctor, loads: Mapping[str, int] | None = None) -> list[Candidate]:
    loads = loads or {}
    return [Candidate(doctor, loads.get(doctor.id, 0)) for doctor in doctors]


def a_consultation(
    *,
    on_shift: Sequence[Doctor] = (),
    chosen: Doctor | None = None,
    reported: Sequence[ReportedSymptom] = (),
    details: str = "It hurts to swallow; 38.5 °C this morning.",
    at: datetime = NOW,
    consultation_id: str = "consultation-1",
) -> Consultation:
    """Symptoms submitted for a fresh session; assigned as the arguments make it."""
    intake = an_intake(now=at)
    session = a_session(intake, doctor=chosen, at=at)
    return open_consultation(
        session,
        patient_id="patient-1",
        consultation_id=consultation_id,
        details=details,
        symptoms=reported,
        intake=intake,
        triage=RULES,
        chosen_doctor=chosen,
        candidates=candidates(*on_shift),
        now=at,
    )
