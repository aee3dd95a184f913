"""Demo data for `make run`, so that a newcomer can book, consult and pay at once: three
doctors, each open Saturday to Wednesday from 09:00 to 13:00 in their own zone in 30-minute
slots for the next 14 days and on consultation shifts around the clock; the platform's
consultation prices, in the currency of the wallet; and a demo patient, patient-1, whose
wallet is topped up once and whose contact (Persian, e-mail and SMS, which development
hands to the log sink: it notes each delivery, the inbox shows what it said) makes their
inbox speak Persian.

Everything goes through the services' public APIs, as an admin and as the patient would,
and may run on every start, since the data outlives it in .data/: fixed idempotency keys
make a repeated call the same call, a doctor already there counts as seeded, the wallet is
topped up by one keyed payment however often this runs, and each day's run moves the
14 days on. A doctor whose weekly pattern or shifts someone has changed since keeps them,
prices set once by their key stay as an admin sets them later, and a contact already
registered is left as it is.

Consultation learns of the doctors from booking's DoctorUpdated events, so their shifts
wait (a bounded while) until it knows them. The consultation and notification parts only
warn when they fail: the rest of the demo works without them.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.type import date_pb2, dayofweek_pb2, timeofday_pb2
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.booking.v1 import booking_service_pb2_grpc
from nobat.common.v1 import money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.consultation.v1 import consultation_service_pb2_grpc
from nobat.notification.v1 import notification_service_pb2 as npb
from nobat.notification.v1 import notification_service_pb2_grpc
from nobat.payment.v1 import payment_service_pb2 as ppb
from nobat.payment.v1 import payment_service_pb2_grpc

from runtime.money import Money
from stack.local import LocalStack

RPC_TIMEOUT = 15.0
# How long the sandbox's webhook may take to settle the top-up.
SETTLE_TIMEOUT = 20.0


@dataclass(frozen=True)
class DemoDoctor:
    id: str
    name: str
    specialty: str
    time_zone: str
    fee: Money


# Fees in currencies Stripe (and so the sandbox) takes: the demo pays through the
# gateway it imitates, which takes no rials.
DOCTORS = (
    DemoDoctor(
        "doctor-1", "Dr. Sara Ahmadi", "general practice", "Asia/Tehran", Money(6_000, "EUR")
    ),
    DemoDoctor("doctor-2", "Dr. Reza Karimi", "dermatology", "Asia/Tehran", Money(8_000, "EUR")),
    DemoDoctor("doctor-3", "Dr. Emily Clark", "cardiology", "Europe/London", Money(8_000, "GBP")),
)
WORKING_DAYS = (
    dayofweek_pb2.SATURDAY,
    dayofweek_pb2.SUNDAY,
    dayofweek_pb2.MONDAY,
    dayofweek_pb2.TUESDAY,
    dayofweek_pb2.WEDNESDAY,
)
OPENS, CLOSES = timeofday_pb2.TimeOfDay(hours=9), timeofday_pb2.TimeOfDay(hours=13)
SLOT = duration_pb2.Duration(seconds=30 * 60)
DAYS_AHEAD = 14
HOURS = "Sat-Wed 09:00-13:00"

PATIENT = "patient-1"
TOP_UP = Money(20_000, "EUR")
TOP_UP_KEY = "seed-wallet-top-up"
# The admin the seed calls as; idempotency keys are the caller's own.
ADMIN = "seed"

# The platform's consultation prices, in the currency of the seeded wallet, so that the
# demo patient can pay for a consultation from it.
CONSULTATION_PRICES = (
    (cpb.CONSULTATION_TYPE_CHAT, Money(2_500, TOP_UP.currency)),
    (cpb.CONSULTATION_TYPE_VIDEO, Money(6_000, TOP_UP.currency)),
    (cpb.CONSULTATION_TYPE_EMERGENCY, Money(10_000, TOP_UP.currency)),
)
# Every day, all day, in the doctor's own zone: someone is on shift whenever one tries.
SHIFTS = tuple(
    cpb.Shift(
        day_of_week=day,
        start_time=timeofday_pb2.TimeOfDay(hours=0),
        end_time=timeofday_pb2.TimeOfDay(hours=24),
    )
    for day in range(dayofweek_pb2.MONDAY, dayofweek_pb2.SUNDAY + 1)
)
SHIFT_HOURS = "around the clock, every day"
# How long consultation may take to learn of the seeded doctors from booking's events.
DOCTOR_SYNC_TIMEOUT = 30.0
CONTACT = (
    npb.ContactChannel(channel=npb.CHANNEL_EMAIL, address="patient-1@example.com", enabled=True),
    npb.ContactChannel(channel=npb.CHANNEL_SMS, address="+989121234567", enabled=True),
)


class SeedError(Exception):
    """Seeding stopped; the message says where."""


def seed(stack: LocalStack) -> None:
    """Seed the running stack, printing one line per thing seeded, and one warning per
    part of consultation's or notification's that could not be."""
    admin = _Caller(stack, "admin", ADMIN)
    patient = _Caller(stack, "patient", PATIENT)
    failed: SeedError | None = None
    try:
        try:
            for doctor in DOCTORS:
                print(_seed_doctor(admin, doctor, stack.now()), flush=True)
            print(_seed_wallet(patient, stack.sandbox.url if stack.sandbox else ""), flush=True)
        except grpc.RpcError as exc:
            failed = SeedError(f"{exc.code().name}: {exc.details()}")
        except SeedError as exc:
            failed = exc
        # Not stopped by a failure above: doctors seeded on an earlier run still take shifts.
        deadline = time.monotonic() + DOCTOR_SYNC_TIMEOUT
        _warn_on_failure("consultation prices", _seed_prices, admin)
        for doctor in DOCTORS:
            what = f"{doctor.id}'s consultation shifts"
            _warn_on_failure(what, _seed_shifts, admin, doctor, deadline)
        _warn_on_failure(f"{PATIENT}'s contact", _seed_contact, patient)
    finally:
        admin.close()
        patient.close()
    if failed is not None:
        raise failed


def _warn_on_failure(what: str, step: Callable[..., str], *args: object) -> None:
    """Print the line `step(*args)` returns, or a warning when it fails."""
    try:
        line = step(*args)
    except grpc.RpcError as exc:
        line = f"warning: {what} not seeded: {exc.code().name}: {exc.details()}"
    except SeedError as exc:
        line = f"warning: {what} not seeded: {exc}"
    print(line, flush=True)


class _Caller:
    """The services as one user, with their token on every call."""

    def __init__(self, stack: LocalStack, role: str, subject: str) -> None:
        token = stack.token(subject, role, ttl=600)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.channels = {
            name: stack.channel(name)
            for name in ("booking", "payment", "consultation", "notification")
        }
        self.booking = booking_service_pb2_grpc.BookingServiceStub(self.channels["booking"])
        self.payment = payment_service_pb2_grpc.PaymentServiceStub(self.channels["payment"])
        self.consultation = consultation_service_pb2_grpc.ConsultationServiceStub(
            self.channels["consultation"]
        )
        self.notification = notification_service_pb2_grpc.NotificationServiceStub(
            self.channels["notification"]
        )

    def __call__(self, method, request: Message):
        return method(request, metadata=self.metadata, timeout=RPC_TIMEOUT)

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()


def _seed_doctor(admin: _Caller, demo: DemoDoctor, now: datetime) -> str:
    fee = _money(demo.fee)
    try:
        doctor = admin(
            admin.booking.CreateDoctor,
            bpb.CreateDoctorRequest(
                idempotency_key=f"seed-doctor-{demo.id}",
                doctor_id=demo.id,
                display_name=demo.name,
                specialty=demo.specialty,
                time_zone=demo.time_zone,
                appointment_fee=fee,
            ),
        ).doctor
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        doctor = admin(admin.booking.GetDoctor, bpb.GetDoctorRequest(doctor_id=demo.id)).doctor
    fee_text = str(Money(doctor.appointment_fee.amount_minor, doctor.appointment_fee.currency))
    line = f"seeded {doctor.id} {doctor.display_name} ({doctor.specialty}, {fee_text}): "
    if _pattern_changed(admin, doctor.id):
        return line + "its weekly schedule was changed since the seed, left as it is"
    first = now.astimezone(ZoneInfo(doctor.time_zone)).date()
    last = first + timedelta(days=DAYS_AHEAD - 1)
    admin(
        admin.booking.SetWeeklyAvailability,
        bpb.SetWeeklyAvailabilityRequest(
            # One key a day: the same day's runs are one call, the next day's moves on.
            idempotency_key=f"seed-availability-{doctor.id}-{first}-{last}",
            doctor_id=doctor.id,
            windows=_windows(),
            slot_duration=SLOT,
            first_date=date_pb2.Date(year=first.year, month=first.month, day=first.day),
            last_date=date_pb2.Date(year=last.year, month=last.month, day=last.day),
        ),
    )
    return line + f"{HOURS} {doctor.time_zone}, 30-minute slots to {last}"


def _windows() -> list[bpb.AvailabilityWindow]:
    return [
        bpb.AvailabilityWindow(day_of_week=day, start_time=OPENS, end_time=CLOSES)
        for day in WORKING_DAYS
    ]


def _pattern_changed(admin: _Caller, doctor_id: str) -> bool:
    """Whether the doctor has a weekly pattern other than the seed's."""
    try:
        stored = admin(
            admin.booking.GetWeeklyAvailability,
            bpb.GetWeeklyAvailabilityRequest(doctor_id=doctor_id),
        ).availability
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return False

    def shape(windows) -> set[bytes]:
        return {w.SerializeToString(deterministic=True) for w in windows}

    return (shape(stored.windows), stored.slot_duration) != (shape(_windows()), SLOT)


def _seed_wallet(patient: _Caller, sandbox_url: str) -> str:
    """One top-up, paid on the sandbox as the patient would on its page."""
    amount = _money(TOP_UP)
    started = patient(
        patient.payment.TopUpWallet,
        ppb.TopUpWalletRequest(idempotency_key=TOP_UP_KEY, amount=amount),
    ).payment
    # The keyed call answers as it first did; what the payment is now says what is left.
    payment = _payment(patient, started.id)
    if payment.status == ppb.PAYMENT_STATUS_PROCESSING and payment.attempts:
        _press_pay(sandbox_url, payment.attempts[-1].gateway_ref)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while payment.status == ppb.PAYMENT_STATUS_PROCESSING and time.monotonic() < deadline:
            time.sleep(0.1)
            payment = _payment(patient, payment.id)
    if payment.status != ppb.PAYMENT_STATUS_SUCCEEDED:
        status = ppb.PaymentStatus.Name(payment.status).removeprefix("PAYMENT_STATUS_")
        raise SeedError(
            f"{PATIENT}'s wallet top-up {payment.id} is {status}; delete .data/ to seed afresh"
        )
    wallet = patient(patient.payment.GetWallet, ppb.GetWalletRequest()).wallet
    balance = ", ".join(str(Money(b.amount_minor, b.currency)) for b in wallet.balances)
    return (
        f"seeded {PATIENT}'s wallet: one top-up of {TOP_UP}, paid (balance {balance or 'nothing'})"
    )


def _payment(patient: _Caller, payment_id: str) -> ppb.Payment:
    return patient(patient.payment.GetPayment, ppb.GetPaymentRequest(payment_id=payment_id)).payment


def _press_pay(sandbox_url: str, session_id: str) -> None:
    """The sandbox page's Pay button, through its control API."""
    if not sandbox_url:
        raise SeedError("no sandbox gateway to pay the wallet top-up on")
    request = urllib.request.Request(
        f"{sandbox_url}/_sandbox/checkout/{session_id}/pay",
        data=json.dumps({}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=RPC_TIMEOUT):
            pass
    except OSError as exc:  # urllib's HTTPError and URLError among them
        raise SeedError(f"the sandbox did not pay the wallet top-up: {exc}") from None


def _seed_prices(admin: _Caller) -> str:
    """The platform defaults, set once: the key makes a later run the same call, so prices
    an admin sets afterwards stay."""
    saved = admin(
        admin.consultation.SetConsultationPrices,
        cpb.SetConsultationPricesRequest(
            idempotency_key="seed-consultation-prices",
            prices=[
                cpb.ConsultationPrice(type=kind, price=_money(price))
                for kind, price in CONSULTATION_PRICES
            ],
        ),
    ).prices
    listed = ", ".join(
        f"{cpb.ConsultationType.Name(p.type).removeprefix('CONSULTATION_TYPE_').lower()}"
        f" {Money(p.price.amount_minor, p.price.currency)}"
        for p in saved
    )
    return f"seeded consultation prices: {listed}"


def _seed_shifts(admin: _Caller, demo: DemoDoctor, deadline: float) -> str:
    line = f"seeded {demo.id}'s consultation shifts: "
    stored = _known_doctor(admin, demo.id, deadline)
    if stored.shifts and _shape(stored.shifts) != _shape(SHIFTS):
        return line + "changed since the seed, left as they are"
    if not stored.shifts:
        admin(
            admin.consultation.SetDoctorShifts,
            cpb.SetDoctorShiftsRequest(
                idempotency_key=f"seed-shifts-{demo.id}", doctor_id=demo.id, shifts=SHIFTS
            ),
        )
        # A run after an admin cleared them replays the first answer and changes nothing.
        stored = _doctor_shifts(admin, demo.id)
        if not stored.shifts:
            return line + "cleared since the seed, left so"
    return line + f"{SHIFT_HOURS} ({stored.time_zone})"


def _known_doctor(admin: _Caller, doctor_id: str, deadline: float):
    """The doctor's shifts, once consultation has heard of the doctor from booking."""
    while True:
        try:
            return _doctor_shifts(admin, doctor_id)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            if time.monotonic() >= deadline:
                raise SeedError(
                    f"consultation has not heard of {doctor_id} from booking"
                    f" in {DOCTOR_SYNC_TIMEOUT:g} s"
                ) from None
            time.sleep(0.2)


def _doctor_shifts(admin: _Caller, doctor_id: str) -> cpb.ListDoctorShiftsResponse:
    return admin(
        admin.consultation.ListDoctorShifts, cpb.ListDoctorShiftsRequest(doctor_id=doctor_id)
    )


def _shape(shifts) -> set[bytes]:
    return {shift.SerializeToString(deterministic=True) for shift in shifts}


def _seed_contact(patient: _Caller) -> str:
    """Persian, by e-mail and SMS; a contact the patient has registered is theirs."""
    try:
        contact = patient(patient.notification.GetContact, npb.GetContactRequest()).contact
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        contact = patient(
            patient.notification.RegisterContact,
            npb.RegisterContactRequest(
                idempotency_key="seed-contact", locale=npb.LOCALE_FA, channels=CONTACT
            ),
        ).contact
    locale = npb.Locale.Name(contact.locale).removeprefix("LOCALE_").lower()
    channels = ", ".join(
        f"{npb.Channel.Name(c.channel).removeprefix('CHANNEL_').lower()} {c.address}"
        for c in contact.channels
        if c.enabled
    )
    return (
        f"seeded {PATIENT}'s contact: {locale}, {channels or 'no channel'}"
        " (development's log sink notes each delivery; `nobat inbox` shows the text)"
    )


def _money(amount: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount.amount_minor, currency=amount.currency)
