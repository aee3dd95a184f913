"""Whose records a caller lists follows from their verified subject, whatever it holds: a
blank one (which the token check refuses anyway) lists nothing, never everyone's. Run on
the servicers themselves, where the caller's filters are chosen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.payment.v1 import payment_service_pb2 as ppb

from runtime import auth
from services.booking.entrypoints.servicer import BookingServicer
from services.payment.domain.purchase import PaymentMethod, Purchase
from services.payment.entrypoints.servicer import PaymentServicer
from services.payment.handlers.context import Context as PaymentContext
from services.payment.handlers.context import PaymentSettings
from services.payment.handlers.payments import CreatePayment, create_payment
from tests.unit.booking.builders import a_reservation
from tests.unit.booking.fakes import booking_unit
from tests.unit.booking.fakes import context as booking_context
from tests.unit.payment.builders import T0, doctor_line, usd
from tests.unit.payment.fakes import FakeGateway, fake_unit


@contextmanager
def calling_as(subject: str, role: str) -> Iterator[None]:
    token = auth.set_caller(auth.Caller(subject, role))
    try:
        yield
    finally:
        auth.reset_caller(token)


async def test_a_patient_with_a_blank_subject_lists_no_reservations_rather_than_everyones():
    first, _ = a_reservation("1")
    second, _ = a_reservation("2")
    servicer = BookingServicer(
        booking_context(booking_unit(first, replace(second, patient_id="patient-2")))
    )
    listed = {}
    for subject in ("", "patient-2"):
        with calling_as(subject, auth.PATIENT):
            answer = await servicer.ListReservations(bpb.ListReservationsRequest(), None)
        listed[subject] = [r.patient_id for r in answer.reservations]
    assert listed == {"": [], "patient-2": ["patient-2"]}
    with calling_as("", auth.DOCTOR):
        answer = await servicer.ListReservations(bpb.ListReservationsRequest(), None)
    assert list(answer.reservations) == []


async def test_a_service_with_a_blank_subject_lists_no_payments_rather_than_every_kind():
    uow = fake_unit()
    ctx = PaymentContext(lambda: uow, FakeGateway(), PaymentSettings(), clock=lambda: T0)
    for kind in ("booking", "consultation"):
        await create_payment(
            ctx,
            uow,
            CreatePayment(
                purchase=Purchase(kind, f"{kind}-1"),
                patient_id="patient-1",
                amount=usd(10_000),
                lines=(doctor_line(usd(10_000)),),
                method=PaymentMethod.GATEWAY,
            ),
        )
    servicer = PaymentServicer(ctx)
    listed = {}
    for subject in ("", "booking"):
        with calling_as(subject, auth.SERVICE):
            answer = await servicer.ListPayments(ppb.ListPaymentsRequest(), None)
        listed[subject] = [p.purchase.kind for p in answer.payments]
    assert listed == {"": [], "booking": ["booking"]}
