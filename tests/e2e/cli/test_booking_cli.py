"""The `nobat` booking verbs against a real local stack with `make run`'s seed data: the
directory and slots, booking and paying on the sandbox, following the checkout to its
reservation, cancelling it, and the seed itself, which must be safe to run again."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import duration_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.type import dayofweek_pb2, timeofday_pb2
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.booking.v1 import booking_service_pb2_grpc
from nobat.common.v1 import checkout_pb2, money_pb2

from cli.render import checkout_text
from stack.seed import seed
from tests.e2e.cli import test_payment_cli as payment_cli
from tests.e2e.cli.test_payment_cli import ok

pytestmark = pytest.mark.e2e

# A stack of this module's own (module-scoped), and `nobat ARGS…` against it.
stack = payment_cli.stack
nobat = payment_cli.nobat


def seeded_once(stack: payment_cli.Stack) -> list[str]:
    """What the seed prints, line by line."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        seed(stack.local)
    return printed.getvalue().splitlines()


@pytest.fixture(scope="module")
def seeded(stack: payment_cli.Stack) -> list[str]:
    return seeded_once(stack)


def as_json(ran) -> dict:
    return json.loads(ok(ran))


def test_the_seed_prints_a_line_per_doctor_and_the_wallet(stack, seeded):
    # Then consultation's and notification's lines (tests/e2e/cli/test_consultation_cli.py).
    tehran, london = _last_day(stack, "Asia/Tehran"), _last_day(stack, "Europe/London")
    assert seeded[:4] == [
        "seeded doctor-1 Dr. Sara Ahmadi (general practice, 60.00 EUR): "
        f"Sat-Wed 09:00-13:00 Asia/Tehran, 30-minute slots to {tehran}",
        "seeded doctor-2 Dr. Reza Karimi (dermatology, 80.00 EUR): "
        f"Sat-Wed 09:00-13:00 Asia/Tehran, 30-minute slots to {tehran}",
        "seeded doctor-3 Dr. Emily Clark (cardiology, 80.00 GBP): "
        f"Sat-Wed 09:00-13:00 Europe/London, 30-minute slots to {london}",
        "seeded patient-1's wallet: one top-up of 200.00 EUR, paid (balance 200.00 EUR)",
    ]


def _last_day(stack: payment_cli.Stack, zone: str) -> str:
    """The last of the 14 days seeded, in the doctor's zone."""
    return str(stack.local.now().astimezone(ZoneInfo(zone)).date() + timedelta(days=13))


def test_doctors_lists_the_seeded_doctors(seeded, nobat):
    assert ok(nobat("doctors")).splitlines() == [
        "ID        NAME             SPECIALTY         ZONE                 FEE",
        "doctor-1  Dr. Sara Ahmadi  general practice  Asia/Tehran    60.00 EUR",
        "doctor-2  Dr. Reza Karimi  dermatology       Asia/Tehran    80.00 EUR",
        "doctor-3  Dr. Emily Clark  cardiology        Europe/London  80.00 GBP",
    ]
    [cardiologist] = as_json(nobat("doctors", "--specialty", "cardiology", "--json"))["doctors"]
    assert cardiologist["id"] == "doctor-3"
    assert cardiologist["appointmentFee"] == {"amountMinor": "8000", "currency": "GBP"}


def test_slots_shows_free_slots_in_the_doctors_time_and_in_utc(seeded, nobat):
    printed = ok(nobat("slots", "doctor-1", "--status", "free", "--limit", "5")).splitlines()
    assert printed[0].split() == ["ID", "STARTS", "(Asia/Tehran)", "UTC", "STATUS", "FEE"]
    assert printed[-1] == "(the first 5; --limit shows up to 100)"
    for row in printed[1:-1]:
        _, weekday, day, clock, offset, utc_day, utc_clock, _, status, fee, currency = row.split()
        assert weekday in ("Sat", "Sun", "Mon", "Tue", "Wed") and offset == "+0330"
        assert "09:00" <= clock <= "12:30" and clock[3:] in ("00", "30")
        local = datetime.fromisoformat(f"{day}T{clock}")
        assert datetime.fromisoformat(f"{utc_day}T{utc_clock}") == local - timedelta(hours=3.5)
        assert (status, fee, currency) == ("FREE", "60.00", "EUR")

    london = ok(nobat("slots", "doctor-3", "--limit", "1")).splitlines()
    assert london[0].split()[1:3] == ["STARTS", "(Europe/London)"]
    assert london[1].split()[4] in ("GMT", "BST")


def test_book_pay_follow_list_and_cancel_a_reservation(stack, seeded, nobat):
    # More than 24 hours ahead, so that the patient's cancellation is refunded in full.
    slot = _free_slot(nobat, "doctor-1", stack.local.now() + timedelta(hours=25))

    booked = ok(nobat("book", slot)).splitlines()
    checkout_id = booked[0].split()[1]
    assert booked[0].startswith(f"checkout {checkout_id} is AWAITING_PAYMENT, the slot held until")
    assert booked[1] == f"60.00 EUR by GATEWAY for slot {slot} with doctor-1"
    checkout_url = booked[2].removeprefix("checkout page: ")
    assert "/checkout/cs_" in checkout_url
    assert booked[3:] == [
        f"pay it: nobat pay {checkout_url}",
        f"then: nobat checkout {checkout_id} --watch 30",
    ]
    assert (
        ok(nobat("pay", checkout_url))
        .splitlines()[-1]
        .endswith("is SUCCEEDED (#1 GATEWAY SUCCEEDED)")
    )

    watched = ok(nobat("checkout", checkout_id, "--watch", "20")).splitlines()
    assert watched[0].startswith(f"checkout {checkout_id} is CONFIRMED: reservation ")
    reservation_id = watched[0].rsplit(" ", 1)[1]
    assert watched[2] == "see it: nobat reservations"

    [row] = [line for line in ok(nobat("reservations")).splitlines() if reservation_id in line]
    assert row.split()[1] == "doctor-1" and "+0330" in row
    assert row.split()[-4:] == ["CONFIRMED", "60.00", "EUR", "-"]

    cancelled = ok(nobat("cancel", reservation_id, "--reason", "feeling better"))
    assert cancelled.splitlines() == [
        f"reservation {reservation_id} is CANCELLED by PATIENT (feeling better)",
        "refund: 60.00 EUR of the 60.00 EUR paid (in full)",
    ]
    [row] = [line for line in ok(nobat("reservations")).splitlines() if reservation_id in line]
    assert row.split()[-5:] == ["CANCELLED", "60.00", "EUR", "60.00", "EUR"]


def test_the_seeded_wallet_pays_a_booking_at_once(stack, seeded, nobat):
    slot = _free_slot(nobat, "doctor-2", stack.local.now())

    booked = ok(nobat("book", slot, "--method", "wallet")).splitlines()
    checkout_id = booked[0].split()[1]
    assert booked[1] == f"80.00 EUR by WALLET for slot {slot} with doctor-2"
    assert booked[2] == (
        "paid from the wallet; the reservation follows in a moment:"
        f" nobat checkout {checkout_id} --watch 30"
    )
    confirmed = ok(nobat("checkout", checkout_id, "--watch", "20"))
    assert f"checkout {checkout_id} is CONFIRMED: reservation " in confirmed


def test_a_short_wallet_is_retried_on_the_gateway(stack, seeded, nobat):
    """Another patient, with no wallet: the failure says so and how to go on."""
    someone = ("--as", "patient:someone")
    slot = _free_slot(nobat, "doctor-3", stack.local.now())

    failed = ok(nobat("book", slot, "--method", "wallet", *someone)).splitlines()
    checkout_id = failed[0].split()[1]
    assert failed[0].startswith(
        f"checkout {checkout_id} is PAYMENT_FAILED (insufficient_funds, retryable)"
    )
    assert (
        failed[2] == f"try again: nobat retry {checkout_id} [--method gateway] --as patient:someone"
    )

    retried = ok(nobat("retry", checkout_id, "--method", "gateway", *someone)).splitlines()
    assert retried[0].startswith(f"checkout {checkout_id} is AWAITING_PAYMENT")
    assert retried[3].startswith("pay it: nobat pay http") and retried[3].endswith(
        " --as patient:someone"
    )


def test_failures_are_one_line_and_exit_1(seeded, nobat):
    unknown = "3f2c9a4e-8b1d-4c7a-9e2f-5d6b7a8c9d0e"
    for argv, line in [
        (("book", "no-such-slot"), "error: INVALID_ARGUMENT: slot_id: must be a slot id like"),
        (("book", unknown), "error: NOT_FOUND: "),
        (("checkout", unknown), "error: NOT_FOUND: "),
        (("cancel", unknown), "error: NOT_FOUND: "),
        (("slots", "doctor-404"), "error: NOT_FOUND: no doctor doctor-404"),
        (("book", unknown, "--as", "doctor:doctor-1"), "error: PERMISSION_DENIED: role doctor"),
    ]:
        ran = nobat(*argv)
        assert ran.code == 1 and ran.out == "", ran
        assert ran.err.startswith(line) and ran.err.count("\n") == 1, ran


def test_seeding_again_changes_nothing(stack, seeded, nobat):
    def state() -> tuple[list[str], list[str], list[str]]:
        doctors = [d["id"] for d in as_json(nobat("doctors", "--json"))["doctors"]]
        slots = as_json(nobat("slots", "doctor-1", "--limit", "100", "--json"))["slots"]
        history = as_json(nobat("wallet", "history", "--json"))["transactions"]
        top_ups = [t["paymentId"] for t in history if t["kind"] == "WALLET_TRANSACTION_KIND_TOP_UP"]
        return doctors, [s["id"] for s in slots], top_ups

    before = state()
    again = seeded_once(stack)
    assert again[:3] == seeded[:3]
    assert again[3].startswith("seeded patient-1's wallet: one top-up of 200.00 EUR, paid")
    assert state() == before
    doctors, _, top_ups = before
    assert doctors == ["doctor-1", "doctor-2", "doctor-3"] and len(top_ups) == 1


def test_seeding_keeps_a_weekly_schedule_changed_since(stack, seeded, nobat):
    """Last, as it takes doctor-3's seeded slots away."""
    evenings = bpb.SetWeeklyAvailabilityRequest(
        idempotency_key="evenings",
        doctor_id="doctor-3",
        windows=[
            bpb.AvailabilityWindow(
                day_of_week=dayofweek_pb2.MONDAY,
                start_time=timeofday_pb2.TimeOfDay(hours=17),
                end_time=timeofday_pb2.TimeOfDay(hours=19),
            )
        ],
        slot_duration=duration_pb2.Duration(seconds=3600),
    )
    token = stack.local.token("ops", "admin")
    with grpc.insecure_channel(stack.local.services["booking"].address) as channel:
        booking_service_pb2_grpc.BookingServiceStub(channel).SetWeeklyAvailability(
            evenings, metadata=[("authorization", f"Bearer {token}")], timeout=15
        )

    again = seeded_once(stack)
    assert again[2] == (
        "seeded doctor-3 Dr. Emily Clark (cardiology, 80.00 GBP): "
        "its weekly schedule was changed since the seed, left as it is"
    )
    slots = ok(nobat("slots", "doctor-3", "--status", "free")).splitlines()[1:]
    assert slots and all(" Mon " in row and (" 17:00 " in row or " 18:00 " in row) for row in slots)


def _free_slot(nobat, doctor_id: str, after: datetime) -> str:
    """The first free slot of the doctor's starting after `after`."""
    slots = as_json(nobat("slots", doctor_id, "--status", "free", "--limit", "100", "--json"))
    for slot in slots["slots"]:
        if datetime.fromisoformat(slot["startsAt"].replace("Z", "+00:00")) > after:
            return slot["id"]
    raise AssertionError(f"no free slot of {doctor_id} after {after}")


def _checkout(status: int, **fields) -> bpb.Checkout:
    hold = Timestamp()
    hold.FromDatetime(datetime(2030, 1, 5, 6, 15, tzinfo=UTC))
    return bpb.Checkout(
        id="c-1",
        slot_id="s-1",
        doctor_id="doctor-1",
        price=money_pb2.Money(amount_minor=1_500_000, currency="IRR"),
        method=checkout_pb2.PAYMENT_METHOD_GATEWAY,
        status=status,
        hold_expires_at=hold,
        **fields,
    )


@pytest.mark.parametrize(
    ("checkout", "first_line"),
    [
        (
            _checkout(checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT),
            "checkout c-1 is AWAITING_PAYMENT, the slot held until 2030-01-05 06:15:00 UTC",
        ),
        (
            _checkout(
                checkout_pb2.CHECKOUT_STATUS_PAYMENT_FAILED,
                payment_failure=checkout_pb2.PaymentFailure(
                    code="card_declined", message="Your card was declined.", retryable=True
                ),
            ),
            "checkout c-1 is PAYMENT_FAILED (card_declined, retryable): Your card was declined.",
        ),
        (
            _checkout(
                checkout_pb2.CHECKOUT_STATUS_PAYMENT_FAILED,
                payment_failure=checkout_pb2.PaymentFailure(code="expired"),
            ),
            "checkout c-1 is PAYMENT_FAILED (expired, not retryable)",
        ),
        (
            _checkout(checkout_pb2.CHECKOUT_STATUS_CONFIRMED, reservation_id="r-1"),
            "checkout c-1 is CONFIRMED: reservation r-1",
        ),
        (
            _checkout(
                checkout_pb2.CHECKOUT_STATUS_REFUNDED, refund_reason=bpb.REFUND_REASON_SLOT_TAKEN
            ),
            "checkout c-1 is REFUNDED (SLOT_TAKEN): the payment is refunded in full",
        ),
        (
            _checkout(checkout_pb2.CHECKOUT_STATUS_EXPIRED),
            "checkout c-1 is EXPIRED: the hold ran out before it was paid",
        ),
    ],
    ids=["awaiting", "failed", "failed-for-good", "confirmed", "refunded", "expired"],
)
def test_a_checkout_says_where_it_stands(checkout, first_line):
    assert checkout_text(checkout).splitlines() == [
        first_line,
        "1500000 IRR by GATEWAY for slot s-1 with doctor-1",
    ]
