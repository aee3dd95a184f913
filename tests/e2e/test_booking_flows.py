"""Booking a slot end to end: all four services as processes, the sandbox gateway, real
PostgreSQL and JetStream. Each test has a doctor of its own, so tests share one stack."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import nats
import pytest
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.common.v1 import money_pb2
from nobat.payment.v1 import events_pb2 as payment_events
from nobat.payment.v1 import payment_service_pb2 as ppb

from cli import invariants
from runtime.events import PAYMENT
from stack.local import LOCAL_APP
from tests.component.payment.harness import publish_as
from tests.e2e.flows import (
    AWAITING,
    CONFIRMED,
    EXPIRED,
    FAILED,
    GATEWAY,
    UNCHARGEABLE,
    WALLET,
    Caller,
    date_message,
    key,
    refusal,
    running_stack,
    session_of,
)
from tests.instants import NEW_YEARS_EVE
from tests.processes import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        NEW_YEARS_EVE,
        NOBAT_BOOKING_HOLD_SECONDS="4",
        NOBAT_BOOKING_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS="1",
        NOBAT_PAYMENT_RECONCILE_EVERY_SECONDS="1",
        NOBAT_PAYMENT_PENDING_GRACE_SECONDS="1",
        NOBAT_BOOKING_UNKNOWN_CHECKOUT_SECONDS="2",
    ) as stack:
        yield stack


async def reservations_of(patient) -> list[bpb.Reservation]:
    reply = await patient.booking.ListReservations(bpb.ListReservationsRequest())
    return list(reply.reservations)


async def test_a_paid_checkout_becomes_exactly_one_reservation(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()

    checkout = await nobat.book(patient, slot.id)
    assert checkout.status == AWAITING and checkout.checkout_url
    assert await reservations_of(patient) == []  # nothing before payment

    await nobat.pay(checkout)
    confirmed = await nobat.checkout_until(patient, checkout.id, CONFIRMED)
    [reservation] = await reservations_of(patient)
    assert reservation.id == confirmed.reservation_id
    assert (reservation.slot_id, reservation.payment_id) == (slot.id, checkout.payment_id)
    assert slot.id not in [s.id for s in await nobat.free_slots(doctor)]


async def test_a_declined_payment_books_nothing_until_retried(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()

    checkout = await nobat.book(patient, slot.id)
    await nobat.pay(checkout, "decline")
    failed = await nobat.checkout_until(patient, checkout.id, FAILED)
    assert failed.payment_failure.retryable
    assert await reservations_of(patient) == []

    retried = await nobat.retry(patient, checkout.id)
    assert retried.checkout_url != checkout.checkout_url
    await nobat.pay(retried)
    await nobat.checkout_until(patient, checkout.id, CONFIRMED)
    assert len(await reservations_of(patient)) == 1


async def test_a_patient_back_from_cancel_takes_another_way_to_pay_and_books_once(nobat):
    """Cancel on the gateway's page only goes back to the app: the page stays payable (as on
    Stripe), so a retry closes it before opening another, and a bank debit still being
    settled on a page cannot be left for a second payment."""
    doctor = await nobat.new_doctor()
    [slot, other_slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()

    checkout = await nobat.book(patient, slot.id)
    await nobat.pay(checkout, "cancel")
    retried = await nobat.retry(patient, checkout.id, GATEWAY)
    assert retried.checkout_url and retried.checkout_url != checkout.checkout_url
    first_page = session_of(checkout)
    assert (await nobat.sandbox.session(first_page))["session"]["status"] == "expired"
    await nobat.pay(retried)
    await nobat.checkout_until(patient, checkout.id, CONFIRMED)
    assert len(await reservations_of(patient)) == 1

    debit = await nobat.book(patient, other_slot.id)
    await nobat.pay(debit, "pay_later")
    code, _, _ = await refusal(
        patient.booking.RetryCheckout(
            bpb.RetryCheckoutRequest(idempotency_key=key(), checkout_id=debit.id)
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    still = await patient.booking.GetCheckout(bpb.GetCheckoutRequest(checkout_id=debit.id))
    assert still.checkout.status == AWAITING


async def test_an_abandoned_checkout_leaves_nothing_after_expiry(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()

    checkout = await nobat.book(patient, slot.id)
    await nobat.checkout_until(patient, checkout.id, EXPIRED, timeout=30)
    assert await reservations_of(patient) == []
    assert slot.id in [s.id for s in await nobat.free_slots(doctor)]


async def test_a_held_slot_is_refused_to_another_patient_with_the_holds_end(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    first, second = nobat.patient(), nobat.patient()
    checkout = await nobat.book(first, slot.id)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await nobat.book(second, slot.id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    again = await nobat.book(first, slot.id)
    assert again.id == checkout.id


async def test_a_wallet_payment_books_at_once_and_a_short_wallet_switches_to_the_gateway(nobat):
    doctor = await nobat.new_doctor(fee=5_000)
    first_slot, second_slot, *_ = await nobat.free_slots(doctor)
    patient = nobat.patient()

    short = await nobat.book(patient, first_slot.id, WALLET)
    assert short.status == FAILED and short.payment_failure.code == "insufficient_funds"
    switched = await nobat.retry(patient, short.id, GATEWAY)
    await nobat.pay(switched)
    await nobat.checkout_until(patient, short.id, CONFIRMED)

    top_up = (
        await patient.payment.TopUpWallet(
            ppb.TopUpWalletRequest(
                idempotency_key=key(), amount={"amount_minor": 5_000, "currency": "USD"}
            )
        )
    ).payment
    await nobat.sandbox.pay(top_up.attempts[-1].gateway_ref)

    async def credited() -> bool:
        wallet = (await patient.payment.GetWallet(ppb.GetWalletRequest())).wallet
        return [m.amount_minor for m in wallet.balances] == [5_000]

    await eventually(credited, 20, "the top-up credited")
    paid = await nobat.book(patient, second_slot.id, WALLET)
    await nobat.checkout_until(patient, paid.id, CONFIRMED)
    assert len(await reservations_of(patient)) == 2


async def test_a_fee_in_a_currency_the_gateway_cannot_take_is_refused_to_the_patient_at_once(
    nobat,
):
    """Stripe takes no rials: the patient hears so when booking, in words, and no slot is
    held for a payment that could never be made; the wallet is still asked as ever."""
    doctor = await nobat.new_doctor(fee=15_000_000, currency="IRR")
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await nobat.book(patient, slot.id)
    code, _, reason = await refusal(nobat.book(patient, slot.id))
    still_free = slot.id in {s.id for s in await nobat.free_slots(doctor)}
    from_wallet = await nobat.book(patient, slot.id, WALLET)

    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "GATEWAY_REFUSES_AMOUNT")
    assert "the payment gateway (Stripe) does not take IRR" in refused.value.details()
    assert still_free
    assert from_wallet.payment_failure.code == "insufficient_funds"
    count = "SELECT count(*) FROM payments WHERE patient_id = :p"
    # The wallet's payment alone: the gateway's was never made.
    assert (await nobat.rows("payment", count, p=patient.subject))[0][0] == 1


async def test_cancelling_refunds_by_notice_and_frees_the_slot(nobat):
    doctor = await nobat.new_doctor(fee=10_000)
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()
    checkout = await nobat.book(patient, slot.id)
    await nobat.pay(checkout)
    confirmed = await nobat.checkout_until(patient, checkout.id, CONFIRMED)

    cancelled = (
        await patient.booking.CancelReservation(
            bpb.CancelReservationRequest(
                idempotency_key=key(), reservation_id=confirmed.reservation_id, reason="ill"
            )
        )
    ).reservation
    assert cancelled.status == bpb.RESERVATION_STATUS_CANCELLED
    # The slot is more than 24 hours away or less: the refund is what the policy says.
    assert cancelled.cancellation.refund.amount_minor in (10_000, 5_000, 0)
    refund = cancelled.cancellation.refund.amount_minor

    async def refunded() -> bool:
        payment = (
            await patient.payment.GetPayment(ppb.GetPaymentRequest(payment_id=checkout.payment_id))
        ).payment
        return payment.refunded.amount_minor == refund

    await eventually(refunded, 20, "the cancellation refunded")
    assert slot.id in [s.id for s in await nobat.free_slots(doctor)]


async def test_a_reschedule_books_the_new_slot_then_cancels_the_old(nobat):
    doctor = await nobat.new_doctor()
    old_slot, new_slot, *_ = await nobat.free_slots(doctor)
    patient = nobat.patient()
    checkout = await nobat.book(patient, old_slot.id)
    await nobat.pay(checkout)
    old = await nobat.checkout_until(patient, checkout.id, CONFIRMED)

    moving = (
        await patient.booking.RescheduleReservation(
            bpb.RescheduleReservationRequest(
                idempotency_key=key(),
                reservation_id=old.reservation_id,
                new_slot_id=new_slot.id,
                method=GATEWAY,
            )
        )
    ).checkout
    assert moving.rescheduled_reservation_id == old.reservation_id
    # Until the new one is paid, the old one stands.
    assert [r.status for r in await reservations_of(patient)] == [bpb.RESERVATION_STATUS_CONFIRMED]
    await nobat.pay(moving)
    await nobat.checkout_until(patient, moving.id, CONFIRMED)

    async def moved() -> bool:
        by_slot = {r.slot_id: r.status for r in await reservations_of(patient)}
        return by_slot == {
            old_slot.id: bpb.RESERVATION_STATUS_CANCELLED,
            new_slot.id: bpb.RESERVATION_STATUS_CONFIRMED,
        }

    await eventually(moved, 20, "the old reservation cancelled")


async def test_another_patients_checkout_and_reservation_are_not_found(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    owner, stranger = nobat.patient(), nobat.patient()
    checkout = await nobat.book(owner, slot.id)
    await nobat.pay(checkout)
    confirmed = await nobat.checkout_until(owner, checkout.id, CONFIRMED)

    for call in (
        stranger.booking.GetCheckout(bpb.GetCheckoutRequest(checkout_id=checkout.id)),
        stranger.booking.GetReservation(
            bpb.GetReservationRequest(reservation_id=confirmed.reservation_id)
        ),
        stranger.booking.CancelReservation(
            bpb.CancelReservationRequest(
                idempotency_key=key(), reservation_id=confirmed.reservation_id
            )
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "slot_id, code",
    [
        ("not-a-slot-id", grpc.StatusCode.INVALID_ARGUMENT),
        ("0b0c3a6e-1111-4a4a-9a9a-000000000000", grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_bad_slots_are_refused_and_store_nothing(nobat, slot_id, code):
    patient = nobat.patient()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await nobat.book(patient, slot_id)
    assert refused.value.code() == code
    rows = await nobat.rows(
        "booking", "SELECT count(*) FROM checkouts WHERE patient_id = :p", p=patient.subject
    )
    assert rows[0][0] == 0


async def test_the_same_patient_racing_themselves_gets_one_checkout(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()
    same_key = key()
    request = bpb.StartCheckoutRequest(idempotency_key=same_key, slot_id=slot.id, method=GATEWAY)
    replies = await asyncio.gather(*(patient.booking.StartCheckout(request) for _ in range(5)))
    assert len({reply.checkout.id for reply in replies}) == 1


def next_clock_change(zone: ZoneInfo, after: date) -> date:
    """The first day after `after` whose noon is at another UTC offset than the day before."""
    day = after + timedelta(days=1)
    while _noon_offset(day, zone) == _noon_offset(day - timedelta(days=1), zone):
        day += timedelta(days=1)
    return day


def _noon_offset(day: date, zone: ZoneInfo) -> timedelta | None:
    return datetime.combine(day, time(12), zone).utcoffset()


async def test_a_schedule_across_a_dst_change_keeps_its_local_times(nobat, stack):
    zone = ZoneInfo("America/New_York")
    doctor = await nobat.new_doctor(time_zone=zone.key, days=0)
    # From the day after tomorrow on, so that the day before the change is still to come.
    tomorrow = stack.now().astimezone(zone).date() + timedelta(days=1)
    change = next_clock_change(zone, tomorrow)
    days = [change - timedelta(days=1), change, change + timedelta(days=1)]
    await nobat.open_every_day(
        doctor,
        hours=(9, 10),
        slot_minutes=60,
        first_date=date_message(days[0]),
        last_date=date_message(days[-1]),
    )
    request = bpb.ListSlotsRequest(doctor_id=doctor, page_size=100)
    request.starts_after.FromDatetime(datetime.combine(days[0], time(0), UTC))
    slots = (await nobat.patient().booking.ListSlots(request)).slots
    starts = [s.starts_at.ToDatetime(tzinfo=UTC) for s in slots]
    # 09:00 on the doctor's clock every day, so an hour apart in UTC across the change.
    assert [(t.astimezone(zone).date(), t.astimezone(zone).hour) for t in starts] == [
        (day, 9) for day in days
    ]
    assert starts[1] - starts[0] != timedelta(days=1)
    assert abs(starts[1] - starts[0] - timedelta(days=1)) == timedelta(hours=1)
    assert starts[2] - starts[1] == timedelta(days=1)


async def test_a_schedule_redone_from_days_ago_with_longer_slots_starts_today(nobat, stack):
    zone = "Asia/Tehran"
    doctor = await nobat.new_doctor(time_zone=zone, days=3)
    before = await nobat.free_slots(doctor)
    patient = nobat.patient()
    booked = await nobat.book(patient, before[-1].id)  # held: it stays whatever the pattern
    reply = await nobat.open_every_day(
        doctor,
        slot_minutes=60,
        first_date=nobat.local_date(zone, -2),
        last_date=nobat.local_date(zone, 3),
    )
    assert reply.availability.first_date == nobat.local_date(zone, -2)
    after = await nobat.free_slots(doctor)
    now = stack.now()
    assert after, "the new pattern has slots to come"
    assert all(s.starts_at.ToDatetime(tzinfo=UTC) > now for s in after)
    # The hour-long slots start where half-hour ones did, and stay clear of the held one.
    assert {s.ends_at.seconds - s.starts_at.seconds for s in after} == {3600}
    assert {s.id for s in after} <= {s.id for s in before}
    held = await patient.booking.GetCheckout(bpb.GetCheckoutRequest(checkout_id=booked.id))
    assert held.checkout.status == AWAITING


async def test_bad_checkout_requests_are_refused_with_the_field(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()
    checkout = await nobat.book(patient, slot.id)
    await nobat.pay(checkout)
    await nobat.checkout_until(patient, checkout.id, CONFIRMED)

    cases = [
        (
            bpb.StartCheckoutRequest(idempotency_key=key(), slot_id=slot.id, method=GATEWAY),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),  # already booked
        (
            bpb.StartCheckoutRequest(idempotency_key=key(), slot_id=slot.id),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),  # no method
        (
            bpb.StartCheckoutRequest(idempotency_key="", slot_id=slot.id, method=GATEWAY),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            bpb.StartCheckoutRequest(
                idempotency_key=key(), slot_id=slot.id, method=GATEWAY, return_url="x" * 5000
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    other = nobat.patient()
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await other.booking.StartCheckout(request)
        assert refused.value.code() == code, request
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await other.booking.ListSlots(bpb.ListSlotsRequest(doctor_id=doctor, page_size=-1))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    rows = await nobat.rows(
        "booking", "SELECT count(*) FROM checkouts WHERE patient_id = :p", p=other.subject
    )
    assert rows[0][0] == 0


@UNCHARGEABLE
async def test_a_fee_payment_could_not_charge_makes_no_doctor(nobat, money, part):
    doctor_id = f"doctor-{key()[:8]}"
    request = bpb.CreateDoctorRequest(
        idempotency_key=key(),
        doctor_id=doctor_id,
        display_name="Dr. Test",
        specialty="general",
        time_zone="Asia/Tehran",
        appointment_fee=money,
    )
    code, fields, _ = await refusal(nobat.admin().booking.CreateDoctor(request))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [f"appointment_fee.{part}"])
    count = "SELECT count(*) FROM doctors WHERE id = :d"
    assert (await nobat.rows("booking", count, d=doctor_id))[0][0] == 0

    request.idempotency_key = key()
    request.appointment_fee.CopyFrom(money_pb2.Money(amount_minor=50_000, currency="USD"))
    await nobat.admin().booking.CreateDoctor(request)  # the same doctor at a fee it can charge
    assert (await nobat.rows("booking", count, d=doctor_id))[0][0] == 1


# Where a gateway must never send a patient's browser, with its checkout session's id.
FOREIGN_RETURN_URLS = [
    "https://evil.example.net/steal?x=1",
    "https://localhost@evil.example.net/",
    "https://localhost.evil.example.net/",
    "javascript:alert(1)//localhost",
    "//evil.example.net/",
    f"{LOCAL_APP}/" + "x" * 2048,
]


async def test_a_return_url_off_the_allowed_hosts_is_refused_and_holds_nothing(nobat):
    doctor = await nobat.new_doctor()
    booked, wanted, *_ = await nobat.free_slots(doctor)
    patient = nobat.patient()
    checkout = await nobat.book(patient, booked.id)
    await nobat.pay(checkout)
    reservation_id = (await nobat.checkout_until(patient, checkout.id, CONFIRMED)).reservation_id

    for url in FOREIGN_RETURN_URLS:
        start = bpb.StartCheckoutRequest(
            idempotency_key=key(), slot_id=wanted.id, method=GATEWAY, return_url=url
        )
        move = bpb.RescheduleReservationRequest(
            idempotency_key=key(),
            reservation_id=reservation_id,
            new_slot_id=wanted.id,
            method=GATEWAY,
            return_url=url,
        )
        for call in (
            patient.booking.StartCheckout(start),
            patient.booking.RescheduleReservation(move),
        ):
            code, fields, _ = await refusal(call)
            assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["return_url"]), url
    count = "SELECT count(*) FROM checkouts WHERE patient_id = :p"
    assert (await nobat.rows("booking", count, p=patient.subject))[0][0] == 1
    assert wanted.id in {s.id for s in await nobat.free_slots(doctor)}

    # The app's own page is where the gateway sends the patient back, session id and all.
    start = bpb.StartCheckoutRequest(
        idempotency_key=key(), slot_id=wanted.id, method=GATEWAY, return_url=f"{LOCAL_APP}/back"
    )
    opened = (await patient.booking.StartCheckout(start)).checkout
    session = await nobat.sandbox.session(session_of(opened))
    assert session["session"]["success_url"].startswith(f"{LOCAL_APP}/back?session_id=")


async def test_the_invariant_checker_reports_a_reservation_nobody_paid_for(nobat, stack):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    await nobat.rows(
        "booking",
        "INSERT INTO reservations (id, slot_id, doctor_id, patient_id, starts_at, ends_at,"
        " price_minor, currency, checkout_id, payment_id, confirmed_at, status)"
        " SELECT 'forged', id, doctor_id, 'patient-x', starts_at, ends_at, 50000, 'USD',"
        " 'forged-checkout', 'never-paid', now(), 'confirmed' FROM slots WHERE id = :slot",
        slot=slot.id,
        commit=True,
    )
    found: list = []

    async def only_the_forgery() -> bool:
        # Once what earlier tests left in flight has settled (outboxes drained).
        found[:] = [(v.invariant, v.subject) for v in await invariants.check(stack.database_urls)]
        return found == [("no record without payment", "booking record forged")]

    await eventually(only_the_forgery, 30, "the forged reservation reported, and only it")


async def test_money_taken_for_a_checkout_never_stored_is_refunded(nobat):
    """Payment's intent can outlive a StartCheckout whose own transaction rolled back
    (booking crashed after payment answered). Its confirmation must not wait forever for
    a checkout that will never come: booking answers it with a full refund."""
    service = Caller(nobat, "service", "booking")
    created = await nobat.payment_for_a_checkout_never_stored()

    async def refunded() -> bool:
        payment = (
            await service.payment.GetPayment(ppb.GetPaymentRequest(payment_id=created.id))
        ).payment
        return payment.status == ppb.PAYMENT_STATUS_REFUNDED

    await eventually(refunded, 30, "the payment for a never-stored checkout refunded")


async def test_a_payment_confirmed_again_books_nothing_twice(nobat, stack):
    """The orphan check re-publishes PaymentConfirmed under a new event id, which the inbox
    cannot recognise: the checkout must, so one payment stays one reservation."""
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()
    checkout = await nobat.book(patient, slot.id)
    await nobat.pay(checkout)
    await nobat.checkout_until(patient, checkout.id, CONFIRMED)
    paid = (
        await Caller(nobat, "service", "booking").payment.GetPayment(
            ppb.GetPaymentRequest(payment_id=checkout.payment_id)
        )
    ).payment
    again = payment_events.PaymentConfirmed(
        payment_id=paid.id,
        purchase=paid.purchase,
        patient_id=paid.patient_id,
        amount=paid.amount,
        method=paid.method,
        lines=paid.lines,
        attempt_id=paid.attempts[-1].id,
        gateway_ref=paid.attempts[-1].gateway_ref,
        confirmed_at=paid.confirmed_at,
    )
    # As payment's orphan check would: with payment's own NATS credentials.
    nc = await nats.connect(stack.nats_url_as("payment"), inbox_prefix="_INBOX_payment")
    try:
        await publish_as(nc.jetstream(), PAYMENT, again)
    finally:
        await nc.close()

    await eventually(lambda: _drained(stack), 30, "the repeated confirmation handled")
    assert len(await reservations_of(patient)) == 1
    still = (
        await Caller(nobat, "service", "booking").payment.GetPayment(
            ppb.GetPaymentRequest(payment_id=paid.id)
        )
    ).payment
    assert still.status == ppb.PAYMENT_STATUS_SUCCEEDED


async def _drained(stack) -> bool:
    """Every consumer has handled and acknowledged what was published (another test in this
    module forges a record on purpose, so the other invariants are not asked here)."""
    found = await invariants.check(stack.database_urls, stack.nats_url)
    return not [v for v in found if v.invariant == "consumers drain"]
