from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from enum import Enum

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from google.type import date_pb2, dayofweek_pb2, timeofday_pb2
from nobat.booking.v1 import booking_service_pb2 as pb
from nobat.booking.v1 import events_pb2
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.payment.v1 import events_pb2 as payment_events_pb2
from nobat.payment.v1 import payment_service_pb2

from purchasing import messages as purchasing_messages
from purchasing.checkout import CheckoutStatus, ConfirmedPayment, PaymentFailure, PaymentMethod
from purchasing.events import PurchaseFulfilled, PurchaseRejected, RefundRequested
from runtime import rpc, wire
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.wire import money_from, money_message
from services.booking.adapters.messages import (
    availability_message,
    checkout_message,
    date_from,
    doctor_message,
    event_message,
    method_from,
    reservation_message,
    reservation_status_from,
    slot_held_message,
    slot_length_from,
    slot_message,
    slot_status_from,
    windows_from,
)
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.checkout import RefundReason, hold_slot
from services.booking.domain.errors import SlotAlreadyHeld
from services.booking.domain.events import ReservationCancelled, ReservationConfirmed
from services.booking.domain.reservation import ReservationStatus
from services.booking.domain.schedule import (
    END_OF_DAY,
    AvailabilityWindow,
    Weekday,
    WeeklyAvailability,
)
from services.booking.domain.slot import SlotStatus
from tests.unit.booking.builders import (
    DECLINED,
    FEE,
    NOW,
    a_checkout,
    a_doctor,
    a_reservation,
    a_slot,
    confirm,
    paid,
)

HELD_UNTIL = NOW + timedelta(minutes=10)
LATER = NOW + timedelta(minutes=3)
GATEWAY = checkout_pb2.PAYMENT_METHOD_GATEWAY
PURCHASE = payment_service_pb2.Purchase(kind="booking", ref="checkout-1")
SLOT_ID = "3f2c9a4e-8b1d-4c7a-9e2f-5d6b7a8c9d0e"
WINDOWS = (
    AvailabilityWindow(Weekday.MONDAY, time(9), time(12, 30)),
    AvailabilityWindow(Weekday.SUNDAY, time(18), END_OF_DAY),
)


def ts(at: datetime) -> Timestamp:
    # Built apart from runtime.wire, so these tests do not grade it by itself.
    return Timestamp(seconds=int(at.timestamp()), nanos=at.microsecond * 1000)


def irr(amount: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount, currency="IRR")


FEE_MESSAGE = irr(250_000)
# What both reservation events open with, for the reservation the builders make.
ABOUT = {
    "reservation_id": "reservation-checkout-1",
    "payment_id": "payment-checkout-1",
    "slot_id": "slot-1",
    "doctor_id": "doctor-1",
    "patient_id": "patient-1",
}


def doctor_proto(**overrides: object) -> pb.Doctor:
    """The directory entry of the builders' doctor, as it goes out."""
    fields: dict = {
        "id": "doctor-1",
        "display_name": "Dr. Parvin Ahmadi",
        "specialty": "cardiology",
        "time_zone": "Asia/Tehran",
        "appointment_fee": FEE_MESSAGE,
        "active": True,
        "updated_at": ts(NOW),
    }
    fields.update(overrides)
    return pb.Doctor(**fields)


def hm(hours: int, minutes: int = 0, **more: int) -> timeofday_pb2.TimeOfDay:
    return timeofday_pb2.TimeOfDay(hours=hours, minutes=minutes, **more)


def window(
    day: int = dayofweek_pb2.MONDAY,
    start: timeofday_pb2.TimeOfDay | None = None,
    end: timeofday_pb2.TimeOfDay | None = None,
) -> pb.AvailabilityWindow:
    return pb.AvailabilityWindow(
        day_of_week=day, start_time=start or hm(9), end_time=end or hm(12, 30)
    )


def invalid_fields(translate: Callable[[], object]) -> list[str]:
    """The fields the gRPC edge tells the caller are wrong, checking the code on the way."""
    with pytest.raises(InvalidArgument) as refused:
        translate()
    status = rpc.to_status(refused.value, "booking")
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    details = status_pb2.Status.FromString(
        dict(status.trailing_metadata)["grpc-status-details-bin"]
    )
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in details.details)
    return [violation.field for violation in bad_request.field_violations]


def invalid_field(translate: Callable[[], object]) -> str:
    (field,) = invalid_fields(translate)
    return field


# Domain -> proto.


def confirmed_payment_from(message: payment_events_pb2.PaymentConfirmed) -> ConfirmedPayment:
    """A PaymentConfirmed read as the consumer reads it, with this context's Money."""
    return purchasing_messages.confirmed_payment_from(message)


def test_a_doctor_carries_every_directory_field() -> None:
    doctor = a_doctor()
    doctor.update(active=False, now=NOW)
    expected = doctor_proto(active=False)
    message = doctor_message(doctor)
    assert message == expected
    assert pb.Doctor.FromString(message.SerializeToString()) == expected
    assert money_from(message.appointment_fee, "appointment_fee") == doctor.appointment_fee


def test_weekly_availability_goes_out_in_google_types_with_midnight_as_24_00() -> None:
    availability = WeeklyAvailability(WINDOWS, timedelta(minutes=20))
    message = availability_message(
        "doctor-1", "Asia/Tehran", availability, date(2025, 3, 1), date(2025, 3, 31)
    )
    assert message == pb.WeeklyAvailability(
        doctor_id="doctor-1",
        time_zone="Asia/Tehran",
        windows=[
            window(dayofweek_pb2.MONDAY, hm(9), hm(12, 30)),
            window(dayofweek_pb2.SUNDAY, hm(18), hm(24)),
        ],
        slot_duration=Duration(seconds=1_200),
        first_date=date_pb2.Date(year=2025, month=3, day=1),
        last_date=date_pb2.Date(year=2025, month=3, day=31),
    )


def test_weekly_availability_reads_back_as_the_same_pattern_and_dates() -> None:
    availability = WeeklyAvailability(WINDOWS, timedelta(minutes=45))
    first, last = date(2024, 2, 29), date(2024, 12, 31)
    message = availability_message("doctor-1", "Asia/Tehran", availability, first, last)
    again = WeeklyAvailability(
        windows_from(message.windows), slot_length_from(message.slot_duration)
    )
    assert again == availability
    assert (
        date_from(message.first_date, "first_date"),
        date_from(message.last_date, "last_date"),
    ) == (
        first,
        last,
    )


def test_a_free_slot_has_its_fee_and_no_hold() -> None:
    slot = a_slot()
    assert slot_message(slot, NOW, FEE) == pb.Slot(
        id="slot-1",
        doctor_id="doctor-1",
        starts_at=ts(slot.starts_at),
        ends_at=ts(slot.ends_at),
        status=pb.SLOT_STATUS_FREE,
        fee=FEE_MESSAGE,
    )


def test_a_held_slot_says_until_when_and_is_free_once_the_hold_lapses() -> None:
    slot = a_slot()
    a_checkout(slot)
    held = slot_message(slot, NOW, FEE)
    assert (held.status, held.hold_expires_at) == (pb.SLOT_STATUS_HELD, ts(HELD_UNTIL))
    lapsed = slot_message(slot, HELD_UNTIL, FEE)
    assert lapsed.status == pb.SLOT_STATUS_FREE
    assert not lapsed.HasField("hold_expires_at")


def test_a_booked_slot_shows_no_hold_and_the_fee_it_is_given() -> None:
    slot = a_slot()
    confirm(a_checkout(slot), slot, at=LATER)
    message = slot_message(slot, LATER, Money(300_000, "IRR"))
    assert message.status == pb.SLOT_STATUS_BOOKED
    assert not message.HasField("hold_expires_at")
    assert message.fee == irr(300_000)


def test_a_checkout_awaiting_payment_carries_every_field_and_leaves_the_rest_unset() -> None:
    checkout = a_checkout(a_slot())
    expected = pb.Checkout(
        id="checkout-1",
        slot_id="slot-1",
        doctor_id="doctor-1",
        patient_id="patient-1",
        price=FEE_MESSAGE,
        method=GATEWAY,
        status=checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT,
        payment_id="payment-checkout-1",
        checkout_url="https://pay.example/checkout-1/1",
        hold_expires_at=ts(HELD_UNTIL),
        created_at=ts(NOW),
        updated_at=ts(NOW),
    )
    message = checkout_message(checkout)
    assert message == expected
    assert pb.Checkout.FromString(message.SerializeToString()) == expected
    assert not message.HasField("payment_failure")
    assert method_from(message.method) is checkout.method
    assert money_from(message.price, "price") == checkout.price


def test_a_failed_checkout_shows_the_failure_retryable_while_it_is_open() -> None:
    slot = a_slot()
    checkout = a_checkout(slot)
    checkout.attempt_failed(DECLINED, slot=slot, now=LATER)
    message = checkout_message(checkout)
    assert message.status == checkout_pb2.CHECKOUT_STATUS_PAYMENT_FAILED
    assert message.payment_failure == checkout_pb2.PaymentFailure(
        code="card_declined", message="Your card was declined.", retryable=True
    )
    assert message.updated_at == ts(LATER)
    checkout.lapse(slot=slot, now=HELD_UNTIL)
    expired = checkout_message(checkout)
    assert expired.status == checkout_pb2.CHECKOUT_STATUS_EXPIRED
    # Still says why, but nothing can retry an expired checkout.
    assert expired.payment_failure.code == "card_declined"
    assert not expired.payment_failure.retryable


def test_a_confirmed_checkout_names_its_reservation() -> None:
    slot = a_slot()
    checkout = a_checkout(slot)
    confirm(checkout, slot, at=LATER)
    message = checkout_message(checkout)
    assert message.status == checkout_pb2.CHECKOUT_STATUS_CONFIRMED
    assert message.reservation_id == "reservation-checkout-1"
    assert message.refund_reason == pb.REFUND_REASON_UNSPECIFIED


def test_a_refunded_checkout_says_why() -> None:
    slot = a_slot()
    checkout = a_checkout(slot)
    confirm(checkout, slot, paid(checkout, LATER, Money(1, "IRR")), at=LATER)
    message = checkout_message(checkout)
    assert message.status == checkout_pb2.CHECKOUT_STATUS_REFUNDED
    assert message.refund_reason == pb.REFUND_REASON_AMOUNT_MISMATCH
    assert message.reservation_id == ""


def test_a_rescheduling_checkout_names_the_reservation_it_replaces() -> None:
    old, _ = a_reservation()
    checkout = hold_slot(
        checkout_id="checkout-new",
        slot=a_slot("slot-new"),
        doctor=a_doctor(),
        patient_id="patient-1",
        method=PaymentMethod.WALLET,
        now=NOW,
        rescheduling=old,
    )
    message = checkout_message(checkout)
    assert message.rescheduled_reservation_id == old.id
    assert message.method == checkout_pb2.PAYMENT_METHOD_WALLET
    assert (message.payment_id, message.checkout_url) == ("", "")


def test_a_confirmed_reservation_carries_every_field_and_no_cancellation() -> None:
    reservation, slot = a_reservation()
    expected = pb.Reservation(
        id="reservation-checkout-1",
        slot_id="slot-1",
        doctor_id="doctor-1",
        patient_id="patient-1",
        starts_at=ts(slot.starts_at),
        ends_at=ts(slot.ends_at),
        status=pb.RESERVATION_STATUS_CONFIRMED,
        price=FEE_MESSAGE,
        checkout_id="checkout-1",
        payment_id="payment-checkout-1",
        confirmed_at=ts(NOW),
    )
    message = reservation_message(reservation)
    assert message == expected
    assert pb.Reservation.FromString(message.SerializeToString()) == expected
    assert not message.HasField("cancellation")
    assert reservation_status_from(message.status) is reservation.status


def test_a_cancelled_reservation_carries_its_cancellation_and_refund() -> None:
    reservation, slot = a_reservation()
    reservation.cancel(by=CancelledBy.PATIENT, reason="travelling", slot=slot, now=LATER)
    message = reservation_message(reservation)
    assert message.status == pb.RESERVATION_STATUS_CANCELLED
    assert message.cancellation == pb.Cancellation(
        cancelled_by=pb.CANCELLED_BY_PATIENT,
        reason="travelling",
        refund=FEE_MESSAGE,
        cancelled_at=ts(LATER),
    )


def test_a_slot_held_by_another_patient_says_until_when() -> None:
    assert slot_held_message(SlotAlreadyHeld("slot-1", HELD_UNTIL)) == pb.SlotHeld(
        slot_id="slot-1", hold_expires_at=ts(HELD_UNTIL)
    )


def test_money_goes_out_as_minor_units_and_code() -> None:
    assert money_message(Money(0, "USD")) == money_pb2.Money(currency="USD")
    assert money_message(FEE) == FEE_MESSAGE


# Domain events -> published protos.


def test_a_doctor_update_is_published_with_the_whole_entry() -> None:
    doctor = a_doctor()
    doctor.update(specialty="neurology", now=NOW)
    (event,) = doctor.events
    assert event_message(event) == events_pb2.DoctorUpdated(
        doctor=doctor_proto(specialty="neurology")
    )


def test_a_paid_checkout_publishes_the_reservation_and_tells_payment_it_is_fulfilled() -> None:
    slot = a_slot()
    checkout = a_checkout(slot)
    reservation = confirm(checkout, slot, at=LATER)
    assert reservation is not None
    (confirmed,) = reservation.events
    assert isinstance(confirmed, ReservationConfirmed)
    assert event_message(confirmed) == events_pb2.ReservationConfirmed(
        **ABOUT,
        checkout_id="checkout-1",
        starts_at=ts(slot.starts_at),
        ends_at=ts(slot.ends_at),
        price=FEE_MESSAGE,
        confirmed_at=ts(LATER),
    )
    (fulfilled,) = checkout.events
    assert isinstance(fulfilled, PurchaseFulfilled)
    assert event_message(fulfilled) == payment_events_pb2.PurchaseFulfilled(
        payment_id="payment-checkout-1", purchase=PURCHASE, fulfilled_at=ts(LATER)
    )


def test_a_rescheduled_reservation_is_published_with_the_one_it_replaces() -> None:
    message = event_message(
        ReservationConfirmed(
            reservation_id="reservation-2",
            checkout_id="checkout-2",
            payment_id="payment-2",
            slot_id="slot-2",
            doctor_id="doctor-1",
            patient_id="patient-1",
            starts_at=NOW,
            ends_at=NOW + timedelta(minutes=30),
            price=FEE,
            rescheduled_from_reservation_id="reservation-1",
            confirmed_at=LATER,
        )
    )
    assert isinstance(message, events_pb2.ReservationConfirmed)
    assert message.rescheduled_from_reservation_id == "reservation-1"


def test_a_paid_checkout_that_cannot_be_had_is_rejected_to_payment_with_the_reason() -> None:
    slot = a_slot()
    checkout = a_checkout(slot)
    confirm(checkout, slot, paid(checkout, LATER, Money(1, "IRR")), at=LATER)
    (rejected,) = checkout.events
    assert isinstance(rejected, PurchaseRejected)
    assert event_message(rejected) == payment_events_pb2.PurchaseRejected(
        payment_id="payment-checkout-1",
        purchase=PURCHASE,
        reason="amount_mismatch",
        rejected_at=ts(LATER),
    )


def test_a_cancellation_is_published_and_asks_payment_for_the_refund() -> None:
    reservation, slot = a_reservation()
    reservation.cancel(by=CancelledBy.DOCTOR, reason="ill", slot=slot, now=LATER)
    cancelled, refund = reservation.events
    assert isinstance(cancelled, ReservationCancelled)
    assert isinstance(refund, RefundRequested)
    assert event_message(cancelled) == events_pb2.ReservationCancelled(
        **ABOUT,
        starts_at=ts(slot.starts_at),
        cancelled_by=pb.CANCELLED_BY_DOCTOR,
        reason="ill",
        refund=FEE_MESSAGE,
        cancelled_at=ts(LATER),
    )
    assert event_message(refund) == payment_events_pb2.RefundRequested(
        idempotency_key="cancel:reservation-checkout-1",
        payment_id="payment-checkout-1",
        purchase=PURCHASE,
        amount=FEE_MESSAGE,
        reason="reservation_cancelled",
        # Unspecified: payment refunds the way the money came.
        destination=payment_service_pb2.REFUND_DESTINATION_UNSPECIFIED,
        requested_at=ts(LATER),
    )


def test_an_event_nobody_mapped_is_a_bug() -> None:
    with pytest.raises(TypeError, match="ConfirmedPayment"):
        event_message(ConfirmedPayment("payment-1", FEE, NOW))


# Proto -> domain.


def test_a_fee_comes_in_as_domain_money_zero_included() -> None:
    # Zero is the doctor rule's to refuse, on the fee itself, so the edge lets it through.
    assert money_from(FEE_MESSAGE, "fee", zero_allowed=True) == FEE
    zero = money_pb2.Money(currency="IRR")
    assert money_from(zero, "fee", zero_allowed=True) == Money(0, "IRR")


@pytest.mark.parametrize(
    ("money", "field"),
    [
        (money_pb2.Money(), "doctor.appointment_fee"),
        (irr(-5), "doctor.appointment_fee.amount_minor"),
        (money_pb2.Money(amount_minor=100, currency="irr"), "doctor.appointment_fee.currency"),
        (money_pb2.Money(amount_minor=100), "doctor.appointment_fee.currency"),
        # Only what payment can charge: a currency of the table, within its limit.
        (money_pb2.Money(amount_minor=100, currency="XYZ"), "doctor.appointment_fee.currency"),
        (irr(10**12 + 1), "doctor.appointment_fee.amount_minor"),
    ],
)
def test_bad_money_is_invalid_on_its_exact_field(money: money_pb2.Money, field: str) -> None:
    fee = "doctor.appointment_fee"
    assert invalid_field(lambda: money_from(money, fee, zero_allowed=True)) == field


def test_a_method_is_required_unless_unspecified_means_something() -> None:
    assert method_from(checkout_pb2.PAYMENT_METHOD_WALLET) is PaymentMethod.WALLET
    assert invalid_field(lambda: method_from(checkout_pb2.PAYMENT_METHOD_UNSPECIFIED)) == "method"
    assert method_from(0, allow_unspecified=True) is None
    assert invalid_field(lambda: method_from(7, "new_method", allow_unspecified=True)) == (
        "new_method"
    )


def test_windows_come_in_in_order_with_24_00_and_00_00_ends_as_midnight() -> None:
    given = [
        window(dayofweek_pb2.SUNDAY, hm(18), hm(24)),
        window(dayofweek_pb2.SATURDAY, hm(20), timeofday_pb2.TimeOfDay()),
        window(),
    ]
    assert windows_from(given) == (
        AvailabilityWindow(Weekday.SUNDAY, time(18), END_OF_DAY),
        AvailabilityWindow(Weekday.SATURDAY, time(20), END_OF_DAY),
        AvailabilityWindow(Weekday.MONDAY, time(9), time(12, 30)),
    )
    assert windows_from([]) == ()


@pytest.mark.parametrize(
    ("second", "path"),
    [
        (window(dayofweek_pb2.DAY_OF_WEEK_UNSPECIFIED), "windows[1].day_of_week"),
        (window(9), "windows[1].day_of_week"),
        (window(start=hm(24)), "windows[1].start_time"),
        (window(start=hm(9, 60)), "windows[1].start_time"),
        (window(start=hm(-1)), "windows[1].start_time"),
        (window(end=hm(24, 30)), "windows[1].end_time"),
        (window(end=hm(25)), "windows[1].end_time"),
        (window(start=hm(9, seconds=60)), "windows[1].start_time"),
        # Not whole minutes: the domain's rule, named on the same path.
        (window(start=hm(9, seconds=30)), "windows[1].start_time"),
        (window(end=hm(12, nanos=1)), "windows[1].end_time"),
        (window(start=hm(13)), "windows[1].end_time"),
    ],
)
def test_a_bad_window_is_invalid_on_its_exact_field(
    second: pb.AvailabilityWindow, path: str
) -> None:
    other_day = window(dayofweek_pb2.TUESDAY)
    assert invalid_field(lambda: windows_from([other_day, second])) == path


def test_every_bad_window_field_is_named_in_one_answer_under_the_given_field() -> None:
    given = [window(0, hm(25)), window(start=hm(13))]
    assert invalid_fields(lambda: windows_from(given, "availability.windows")) == [
        "availability.windows[0].day_of_week",
        "availability.windows[0].start_time",
        "availability.windows[1].end_time",
    ]


def test_a_slot_length_comes_in_as_given_for_the_domain_to_judge() -> None:
    assert slot_length_from(Duration(seconds=1_800)) == timedelta(minutes=30)
    # A sliver under a microsecond is kept, so the domain sees it is not whole minutes.
    assert slot_length_from(Duration(seconds=1_800, nanos=1)) > timedelta(minutes=30)
    assert slot_length_from(Duration(seconds=-60, nanos=-1)) < timedelta(minutes=-1)
    with pytest.raises(InvalidArgument, match="slot_duration"):
        WeeklyAvailability(WINDOWS, slot_length_from(Duration(seconds=1_800, nanos=1)))


@pytest.mark.parametrize("duration", [Duration(), Duration(seconds=2**62)])
def test_a_missing_or_absurd_slot_length_is_invalid(duration: Duration) -> None:
    assert invalid_field(lambda: slot_length_from(duration)) == "slot_duration"


def test_an_unset_date_is_none_and_a_set_one_a_local_date() -> None:
    assert date_from(date_pb2.Date(), "first_date") is None
    assert date_from(date_pb2.Date(year=2028, month=2, day=29), "first_date") == date(2028, 2, 29)


@pytest.mark.parametrize(
    "given",
    [
        date_pb2.Date(year=2025, month=2, day=29),
        date_pb2.Date(year=2025, month=13, day=1),
        # Partial dates: google.type.Date allows them, a schedule does not.
        date_pb2.Date(year=2025, month=3),
        date_pb2.Date(month=3, day=1),
    ],
)
def test_a_date_the_calendar_lacks_is_invalid(given: date_pb2.Date) -> None:
    assert invalid_field(lambda: date_from(given, "last_date")) == "last_date"


def test_an_unspecified_status_filter_is_every_status() -> None:
    assert slot_status_from(0) is None
    assert reservation_status_from(0) is None
    assert slot_status_from(pb.SLOT_STATUS_HELD) is SlotStatus.HELD
    assert reservation_status_from(pb.RESERVATION_STATUS_CANCELLED) is ReservationStatus.CANCELLED
    assert invalid_field(lambda: slot_status_from(42)) == "status"
    assert invalid_field(lambda: reservation_status_from(-1)) == "status"


def test_a_slot_id_is_a_canonical_uuid() -> None:
    assert wire.id_from(SLOT_ID, "slot_id") == SLOT_ID
    assert wire.id_from(SLOT_ID, "checkout_id") == SLOT_ID


@pytest.mark.parametrize(
    "text",
    [
        "slot-1",
        SLOT_ID.upper(),
        SLOT_ID.replace("-", ""),
        "{" + SLOT_ID + "}",
        "urn:uuid:" + SLOT_ID,
        SLOT_ID + " ",
        SLOT_ID[:-1],
    ],
)
def test_anything_else_cannot_name_a_slot(text: str) -> None:
    with pytest.raises(InvalidArgument, match="must be a slot id like 3f2c"):
        wire.id_from(text, "slot_id")
    assert invalid_field(lambda: wire.id_from(text, "slot_id")) == "slot_id"


@pytest.mark.parametrize(
    ("field", "noun"),
    [
        ("checkout_id", "a checkout id"),
        ("reservation_id", "a reservation id"),
        ("new_slot_id", "a slot id"),
        ("ref", "an id"),
    ],
)
def test_an_id_error_names_the_field_and_its_kind(field: str, noun: str) -> None:
    with pytest.raises(InvalidArgument, match=f"must be {noun} like"):
        wire.id_from("42", field)
    assert invalid_field(lambda: wire.id_from("42", field)) == field


def test_an_empty_id_is_required() -> None:
    with pytest.raises(InvalidArgument, match="is required"):
        wire.id_from("", "reservation_id")


def confirmed(**overrides: object) -> payment_events_pb2.PaymentConfirmed:
    fields: dict = {
        "payment_id": "payment-checkout-1",
        "purchase": PURCHASE,
        "patient_id": "patient-1",
        "amount": FEE_MESSAGE,
        "method": GATEWAY,
        "attempt_id": "attempt-1",
        "gateway_ref": "cs_1",
        "confirmed_at": ts(LATER),
    }
    fields.update(overrides)
    return payment_events_pb2.PaymentConfirmed(**fields)


def test_a_confirmed_payment_comes_in_as_what_booking_decides_on() -> None:
    assert confirmed_payment_from(confirmed()) == ConfirmedPayment("payment-checkout-1", FEE, LATER)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (confirmed(payment_id=""), "payment_id"),
        (confirmed(amount=None), "amount"),
        (confirmed(amount=irr(-1)), "amount.amount_minor"),
        (confirmed(confirmed_at=None), "confirmed_at"),
    ],
)
def test_a_confirmed_payment_missing_a_fact_is_refused(
    message: payment_events_pb2.PaymentConfirmed, field: str
) -> None:
    assert invalid_field(lambda: confirmed_payment_from(message)) == field


def test_a_payment_failure_comes_in_as_payment_said() -> None:
    message = payment_events_pb2.PaymentFailed(
        payment_id="payment-checkout-1",
        purchase=PURCHASE,
        failure=checkout_pb2.PaymentFailure(
            code="card_declined", message="Your card was declined.", retryable=True
        ),
        failed_at=ts(LATER),
    )
    assert purchasing_messages.payment_failure_from(message) == DECLINED
    # Empty is a value in proto3: no code, not retryable.
    assert purchasing_messages.payment_failure_from(
        payment_events_pb2.PaymentFailed()
    ) == PaymentFailure("", "", False)


# Enum pairings.


@pytest.mark.parametrize(
    ("decode", "proto", "prefix", "domain"),
    [
        (method_from, checkout_pb2.PaymentMethod, "PAYMENT_METHOD_", PaymentMethod),
        (slot_status_from, pb.SlotStatus, "SLOT_STATUS_", SlotStatus),
        (reservation_status_from, pb.ReservationStatus, "RESERVATION_STATUS_", ReservationStatus),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_every_proto_value_has_the_domain_member_of_its_name(
    decode: Callable[[int], Enum | None], proto, prefix: str, domain: type[Enum]
) -> None:
    decoded = {proto.Name(value): decode(value) for value in proto.values() if value}
    assert decoded == {prefix + member.name: member for member in domain}


def test_every_day_of_the_week_comes_in_as_the_weekday_of_its_name() -> None:
    days = [value for value in dayofweek_pb2.DayOfWeek.values() if value]
    decoded = windows_from([window(day) for day in days])
    assert [w.day.name for w in decoded] == [dayofweek_pb2.DayOfWeek.Name(day) for day in days]
    assert [w.day.name for w in decoded] == [member.name for member in Weekday]


@pytest.mark.parametrize("status", list(CheckoutStatus))
def test_every_checkout_status_goes_out_as_the_value_of_its_name(status: CheckoutStatus) -> None:
    checkout = a_checkout(a_slot())
    checkout.status = status
    message = checkout_message(checkout)
    assert checkout_pb2.CheckoutStatus.Name(message.status) == f"CHECKOUT_STATUS_{status.name}"


@pytest.mark.parametrize("reason", list(RefundReason))
def test_every_refund_reason_goes_out_as_the_value_of_its_name(reason: RefundReason) -> None:
    checkout = a_checkout(a_slot())
    checkout.status, checkout.refund_reason = CheckoutStatus.REFUNDED, reason
    message = checkout_message(checkout)
    assert pb.RefundReason.Name(message.refund_reason) == f"REFUND_REASON_{reason.name}"


@pytest.mark.parametrize("by", list(CancelledBy))
def test_every_canceller_goes_out_as_the_value_of_its_name(by: CancelledBy) -> None:
    reservation, slot = a_reservation()
    reservation.cancel(by=by, reason="", slot=slot, now=LATER)
    message = reservation_message(reservation)
    assert pb.CancelledBy.Name(message.cancellation.cancelled_by) == f"CANCELLED_BY_{by.name}"
    published = event_message(reservation.events[0])
    assert isinstance(published, events_pb2.ReservationCancelled)
    assert published.cancelled_by == message.cancellation.cancelled_by


def test_every_proto_enum_booking_uses_has_a_value_for_each_domain_member() -> None:
    # Each proto enum has exactly its domain's members besides UNSPECIFIED.
    for proto, domain in [
        (checkout_pb2.CheckoutStatus, CheckoutStatus),
        (pb.RefundReason, RefundReason),
        (pb.CancelledBy, CancelledBy),
        (dayofweek_pb2.DayOfWeek, Weekday),
    ]:
        assert len(proto.values()) - 1 == len(domain)


def test_an_enum_with_a_member_missing_on_either_side_stops_the_import() -> None:
    class Shrunk(Enum):
        FREE = "free"
        HELD = "held"

    with pytest.raises(RuntimeError, match="SLOT_STATUS_BOOKED"):
        wire.enum_pair(Shrunk, pb.SlotStatus, "SLOT_STATUS_")

    class Grown(Enum):
        FREE = "free"
        HELD = "held"
        BOOKED = "booked"
        WITHDRAWN = "withdrawn"

    with pytest.raises(ValueError, match="SLOT_STATUS_WITHDRAWN"):
        wire.enum_pair(Grown, pb.SlotStatus, "SLOT_STATUS_")
