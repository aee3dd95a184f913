"""Driving nobat end to end as its users do: admins set up doctors, patients book and pay
on the sandbox gateway's page, over gRPC to all four services running as processes."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from google.type import date_pb2, dayofweek_pb2, timeofday_pb2
from grpc_status import rpc_status
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.booking.v1 import booking_service_pb2_grpc
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.consultation.v1 import consultation_service_pb2_grpc
from nobat.notification.v1 import notification_service_pb2 as npb
from nobat.notification.v1 import notification_service_pb2_grpc
from nobat.payment.v1 import payment_service_pb2 as ppb
from nobat.payment.v1 import payment_service_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli import invariants
from stack.local import LOCAL_APP, LocalStack
from tests.component.payment.harness import SandboxControl
from tests.instants import stack_instant
from tests.processes import eventually

GATEWAY = checkout_pb2.PAYMENT_METHOD_GATEWAY
WALLET = checkout_pb2.PAYMENT_METHOD_WALLET


def key() -> str:
    return uuid.uuid4().hex


# Amounts no payment could charge, each with the part of a Money message named for it: a
# currency outside the table, and more than the currency's limit.
UNCHARGEABLE = pytest.mark.parametrize(
    ("money", "part"),
    [
        (money_pb2.Money(amount_minor=5_000, currency="XYZ"), "currency"),
        (money_pb2.Money(amount_minor=100_000_001, currency="USD"), "amount_minor"),
    ],
    ids=["unknown-currency", "above-limit"],
)


# Jobs, reconciliation and deliveries on a test's time scale: a fraction of a second or a
# second where production waits seconds or minutes (`running_stack(..., **QUICK_JOBS)`).
QUICK_JOBS = {
    "NOBAT_BOOKING_JOB_INTERVAL_SECONDS": "0.3",
    "NOBAT_PAYMENT_JOB_INTERVAL_SECONDS": "0.3",
    "NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS": "1",
    "NOBAT_PAYMENT_RECONCILE_EVERY_SECONDS": "1",
    "NOBAT_PAYMENT_PENDING_GRACE_SECONDS": "1",
    "NOBAT_NOTIFICATION_DELIVERY_INTERVAL_SECONDS": "0.2",
    "NOBAT_PURGE_INTERVAL_SECONDS": "0.5",
}


@contextmanager
def running_stack(at: datetime, *, tls: bool = False, **overrides: str) -> Iterator[LocalStack]:
    """All of nobat with its clock at `at` (tests.instants) and the NOBAT_* `overrides`;
    with `tls`, TLS on every connection (LocalStack.tls)."""
    # NOBAT_E2E_KEEP=1 keeps the folder (services' logs in logs/) for a look afterwards.
    data_dir = Path(tempfile.mkdtemp(prefix="nobat-e2e-"))
    data_dir.chmod(0o755)
    stack = LocalStack(data_dir, fast=True, overrides=overrides, at=stack_instant(at), tls=tls)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if not os.environ.get("NOBAT_E2E_KEEP"):
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"kept {data_dir}")


class Caller:
    """One user's stubs, with their token on every call."""

    def __init__(self, nobat: Nobat, role: str, subject: str) -> None:
        self.subject = subject
        # A service's calls go to payment, the only service any other calls, with a
        # token as short-lived as its issuer's must be.
        ttl = 600 if role == "service" else 3600
        token = nobat.stack.token(subject, role, to="payment", ttl=ttl)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.booking = _Bound(
            booking_service_pb2_grpc.BookingServiceStub(nobat.channel("booking")), self.metadata
        )
        self.payment = _Bound(
            payment_service_pb2_grpc.PaymentServiceStub(nobat.channel("payment")), self.metadata
        )
        self.consultation = _Bound(
            consultation_service_pb2_grpc.ConsultationServiceStub(nobat.channel("consultation")),
            self.metadata,
        )


@dataclass
class _Bound:
    stub: object
    metadata: tuple

    def __getattr__(self, name: str):
        method = getattr(self.stub, name)

        async def call(request, **kwargs):
            return await method(request, metadata=self.metadata, timeout=20, **kwargs)

        return call


@dataclass
class Nobat:
    stack: LocalStack
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    def channel(self, service: str) -> grpc.aio.Channel:
        if service not in self.channels:
            self.channels[service] = self.stack.aio_channel(service)
        return self.channels[service]

    @property
    def sandbox(self) -> SandboxControl:
        assert self.stack.sandbox is not None
        return SandboxControl(self.stack.sandbox.url)

    def admin(self) -> Caller:
        return Caller(self, "admin", "ops")

    def patient(self, subject: str | None = None) -> Caller:
        return Caller(self, "patient", subject or f"patient-{key()[:8]}")

    def doctor(self, subject: str) -> Caller:
        return Caller(self, "doctor", subject)

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

    async def rows(self, service: str, sql: str, commit: bool = False, **params: object) -> list:
        engine = create_async_engine(self.stack.database_urls[service])
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(sql), params)
                rows = list(result) if result.returns_rows else []
                if commit:
                    await conn.commit()
                return rows
        finally:
            await engine.dispose()

    async def new_doctor(
        self,
        *,
        fee: int = 50_000,
        currency: str = "USD",
        time_zone: str = "Asia/Tehran",
        days: int = 3,
    ) -> str:
        """A doctor open every day, 09:00 to 12:00 local time, in 30-minute slots."""
        doctor_id = f"doctor-{key()[:8]}"
        admin = self.admin()
        await admin.booking.CreateDoctor(
            bpb.CreateDoctorRequest(
                idempotency_key=key(),
                doctor_id=doctor_id,
                display_name="Dr. Test",
                specialty="general",
                time_zone=time_zone,
                appointment_fee=money_pb2.Money(amount_minor=fee, currency=currency),
            )
        )
        await self.open_every_day(doctor_id, last_date=self.local_date(time_zone, days))
        return doctor_id

    async def open_every_day(
        self,
        doctor_id: str,
        *,
        hours: tuple[int, int] = (9, 12),
        slot_minutes: int = 30,
        first_date: date_pb2.Date | None = None,
        last_date: date_pb2.Date,
    ) -> bpb.SetWeeklyAvailabilityResponse:
        """The doctor's week: every day from `hours[0]` to `hours[1]` on their clock, cut into
        slots of `slot_minutes`, from `first_date` (today by default) to `last_date`."""
        return await self.admin().booking.SetWeeklyAvailability(
            bpb.SetWeeklyAvailabilityRequest(
                idempotency_key=key(),
                doctor_id=doctor_id,
                windows=[
                    bpb.AvailabilityWindow(
                        day_of_week=day,
                        start_time=timeofday_pb2.TimeOfDay(hours=hours[0]),
                        end_time=timeofday_pb2.TimeOfDay(hours=hours[1]),
                    )
                    for day in range(dayofweek_pb2.MONDAY, dayofweek_pb2.SUNDAY + 1)
                ],
                slot_duration=duration_pb2.Duration(seconds=slot_minutes * 60),
                first_date=first_date,
                last_date=last_date,
            )
        )

    def local_date(self, time_zone: str, days: int = 0) -> date_pb2.Date:
        """The date `days` after today on a clock in `time_zone`, as the stack's clock has it:
        the zone booking cuts a doctor's dates in."""
        return date_message(self.stack.now().astimezone(ZoneInfo(time_zone)).date(), days)

    async def free_slots(self, doctor_id: str, after: datetime | None = None) -> list[bpb.Slot]:
        request = bpb.ListSlotsRequest(
            doctor_id=doctor_id, status=bpb.SLOT_STATUS_FREE, page_size=100
        )
        if after is not None:
            request.starts_after.FromDatetime(after)
        return list((await self.patient().booking.ListSlots(request)).slots)

    async def checkout_until(
        self,
        patient: Caller,
        checkout_id: str,
        *statuses: int,
        timeout: float = 30,
        context: str = "booking",
    ):
        """The checkout, booking's or consultation's (`context`), once its status is one of
        `statuses`."""
        found: list = []
        calls, messages = _checkouts_of(patient, context)

        async def reached() -> bool:
            reply = await calls.GetCheckout(messages.GetCheckoutRequest(checkout_id=checkout_id))
            found[:] = [reply.checkout]
            return reply.checkout.status in statuses

        await eventually(reached, timeout, f"checkout {checkout_id} in {statuses}")
        return found[0]

    async def retry(
        self, patient: Caller, checkout_id: str, method: int = 0, context: str = "booking"
    ):
        """RetryCheckout on booking's or consultation's checkout (`context`), on `method`
        (unspecified: the checkout's own); the checkout it answers with."""
        calls, messages = _checkouts_of(patient, context)
        request = messages.RetryCheckoutRequest(
            idempotency_key=key(), checkout_id=checkout_id, method=method
        )
        return (await calls.RetryCheckout(request)).checkout

    async def book(self, patient: Caller, slot_id: str, method: int = GATEWAY) -> bpb.Checkout:
        reply = await patient.booking.StartCheckout(
            bpb.StartCheckoutRequest(idempotency_key=key(), slot_id=slot_id, method=method)
        )
        return reply.checkout

    async def paid_checkout(self, patient: Caller, doctor: str | None = None) -> bpb.Checkout:
        """A new doctor's (or `doctor`'s) first free slot, booked and paid by `patient`: the
        checkout, once confirmed."""
        doctor = doctor or await self.new_doctor()
        [slot, *_] = await self.free_slots(doctor)
        checkout = await self.book(patient, slot.id)
        await self.pay(checkout)
        return await self.checkout_until(patient, checkout.id, CONFIRMED)

    async def declined_then_paid(
        self, patient: Caller, slot_id: str
    ) -> tuple[bpb.Checkout, bpb.Checkout]:
        """The slot booked, the card declined, the checkout retried and paid: the retried
        checkout (its page is the second attempt's) and the checkout once confirmed."""
        checkout = await self.book(patient, slot_id)
        await self.pay(checkout, "decline")
        await self.checkout_until(patient, checkout.id, FAILED)
        retried = await patient.booking.RetryCheckout(
            bpb.RetryCheckoutRequest(idempotency_key=key(), checkout_id=checkout.id)
        )
        await self.pay(retried.checkout)
        return retried.checkout, await self.checkout_until(patient, checkout.id, CONFIRMED)

    async def register_email(self, caller: Caller, locale: int = npb.LOCALE_EN) -> None:
        """`caller` told by e-mail, at <subject>@example.com, in `locale`."""
        stub = notification_service_pb2_grpc.NotificationServiceStub(self.channel("notification"))
        await stub.RegisterContact(
            npb.RegisterContactRequest(
                idempotency_key=key(),
                locale=locale,
                channels=[
                    npb.ContactChannel(
                        channel=npb.CHANNEL_EMAIL,
                        address=f"{caller.subject}@example.com",
                        enabled=True,
                    )
                ],
            ),
            metadata=caller.metadata,
        )

    async def payment_for_a_checkout_never_stored(self) -> ppb.Payment:
        """A payment booking asked for and then never stored the checkout of (its
        StartCheckout rolled back after payment answered), paid at the gateway."""
        usd = {"amount_minor": 5_000, "currency": "USD"}
        created = (
            await Caller(self, "service", "booking").payment.CreatePayment(
                ppb.CreatePaymentRequest(
                    idempotency_key=key(),
                    purchase=ppb.Purchase(kind="booking", ref=str(uuid.uuid4())),
                    patient_id="patient-lost",
                    amount=usd,
                    lines=[ppb.PayeeLine(payee_kind=ppb.PAYEE_KIND_PLATFORM, amount=usd)],
                    method=GATEWAY,
                    return_url=f"{LOCAL_APP}/return",
                )
            )
        ).payment
        await self.sandbox.pay(created.attempts[-1].gateway_ref)
        return created

    async def chat_checkout(
        self,
        patient: Caller,
        intake: cpb.StartIntakeRequest,
        *,
        method: int = GATEWAY,
        doctor_id: str = "",
    ) -> tuple[cpb.Intake, cpb.Checkout]:
        """The patient's intake as asked, then the checkout of a chat consultation on it."""
        made = (await patient.consultation.StartIntake(intake)).intake
        reply = await patient.consultation.StartCheckout(
            cpb.StartCheckoutRequest(
                idempotency_key=key(),
                intake_id=made.id,
                type=cpb.CONSULTATION_TYPE_CHAT,
                doctor_id=doctor_id,
                method=method,
            )
        )
        return made, reply.checkout

    async def pay(self, checkout: bpb.Checkout, outcome: str = "pay") -> None:
        """What the patient does on the gateway's page for this checkout's payment."""
        await getattr(self.sandbox, outcome)(session_of(checkout))


async def payment_of(nobat: Nobat, payment_id: str) -> ppb.Payment:
    """The payment as an admin reads it."""
    request = ppb.GetPaymentRequest(payment_id=payment_id)
    return (await nobat.admin().payment.GetPayment(request)).payment


def session_of(checkout) -> str:
    """The gateway session a checkout's page is (the last part of its URL)."""
    return checkout.checkout_url.rstrip("/").rsplit("/", 1)[-1]


def _checkouts_of(patient: Caller, context: str):
    """The patient's calls to booking or consultation (`context`), and its messages."""
    return (patient.booking, bpb) if context == "booking" else (patient.consultation, cpb)


Refusal = tuple[grpc.StatusCode, list[str], str]


async def refusal(call: Awaitable[object]) -> Refusal:
    """How the server refused `call`: its code, the fields it names (google.rpc.BadRequest)
    and the rule broken (google.rpc.ErrorInfo's reason)."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    status = rpc_status.from_call(refused.value)
    bad, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
    for detail in status.details if status else ():
        if not detail.Unpack(bad):
            detail.Unpack(info)
    return refused.value.code(), [v.field for v in bad.field_violations], info.reason


def date_message(day: date, days: int = 0) -> date_pb2.Date:
    """`day`, or the date `days` after it, as google.type.Date."""
    day += timedelta(days=days)
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


CONFIRMED = checkout_pb2.CHECKOUT_STATUS_CONFIRMED
REFUNDED = checkout_pb2.CHECKOUT_STATUS_REFUNDED
FAILED = checkout_pb2.CHECKOUT_STATUS_PAYMENT_FAILED
EXPIRED = checkout_pb2.CHECKOUT_STATUS_EXPIRED
AWAITING = checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT
PAYMENT_SUCCEEDED = ppb.PAYMENT_STATUS_SUCCEEDED


async def settled(stack) -> None:
    """Every invariant holds once the outboxes drain and the consumers catch up."""
    found: list[invariants.Violation] = []

    async def clean() -> bool:
        found[:] = await invariants.check(stack.database_urls, stack.nats_url)
        return not found

    try:
        await eventually(clean, 30, "every invariant to hold")
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}: {[str(v) for v in found]}") from None
