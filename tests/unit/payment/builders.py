"""Payments and money for the payment domain's tests, with defaults that read as a clinic:
a 100.00 USD appointment with one doctor, paid through the gateway."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from runtime.money import Money
from services.payment.domain.attempt import Attempt
from services.payment.domain.payment import Payment
from services.payment.domain.purchase import PayeeKind, PayeeLine, PaymentMethod, Purchase
from services.payment.domain.settlement import GatewayPaid

T0 = datetime(2026, 5, 3, 10, 0, tzinfo=UTC)
PATIENT = "patient-1"
DOCTOR = "doctor-1"


def usd(cents: int) -> Money:
    return Money(cents, "USD")


def doctor_line(amount: Money, doctor: str = DOCTOR) -> PayeeLine:
    return PayeeLine(PayeeKind.DOCTOR, doctor, amount, "Appointment, 3 May 10:00")


def platform_line(amount: Money) -> PayeeLine:
    return PayeeLine(PayeeKind.PLATFORM, "", amount, "Booking fee")


def a_payment(
    amount: Money | None = None,
    lines: Sequence[PayeeLine] | None = None,
    method: PaymentMethod = PaymentMethod.GATEWAY,
    payment_id: str = "payment-1",
    patient_id: str = PATIENT,
    purchase: Purchase | None = None,
    expires_in: timedelta = timedelta(minutes=10),
    at: datetime = T0,
) -> Payment:
    amount = amount or usd(10_000)
    return Payment.create(
        id=payment_id,
        purchase=purchase or Purchase("booking", "checkout-1"),
        patient_id=patient_id,
        amount=amount,
        lines=list(lines) if lines is not None else [doctor_line(amount)],
        method=method,
        created_at=at,
        expires_at=at + expires_in,
        return_url="https://app.example/return",
        description="Appointment",
    )


def open_attempt(payment: Payment, ref: str = "cs_1", at: datetime = T0) -> Attempt:
    """Starts a gateway attempt and gives it its checkout session, as CreatePayment does."""
    attempt = payment.start_attempt(PaymentMethod.GATEWAY, at)
    payment.attach_checkout(attempt.id, ref, f"https://gateway.example/pay/{ref}", at)
    return attempt


def paid(payment: Payment, ref: str = "cs_1") -> GatewayPaid:
    return GatewayPaid(ref, payment.amount)


def event_types(payment: Payment) -> list[str]:
    return [type(event).__name__ for event in payment.events]
