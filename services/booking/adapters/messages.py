"""The translation between booking's protos and its domain, for the gRPC servicer, the
event consumer and the outbox. Nothing is decided here: every rule about schedules, holds,
prices or states is the domain's; this module only moves values across and names the
proto field a bad one came from, so the caller sees INVALID_ARGUMENT on the right field.

Booking publishes its own events (nobat.booking.v1) and payment's inbound purchase
messages (nobat.payment.v1, with Purchase(kind="booking", ref=the checkout id)).

Enums are paired by name (SlotStatus.HELD is SLOT_STATUS_HELD, Weekday.MONDAY is
google.type MONDAY), and every pairing is checked when the module is imported (see
`runtime.wire.enum_pair`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.type import date_pb2, dayofweek_pb2
from nobat.booking.v1 import booking_service_pb2, events_pb2

from purchasing.messages import (
    method_from,
    outcome_messages,
    payment_progress_fields,
)
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.wire import (
    Violations,
    enum_pair,
    event_proto,
    field_required,
    gathered,
    is_unset,
    microseconds_of,
    money_message,
    optional_timestamp,
    time_of_day_from,
    time_of_day_message,
    timestamp,
    timestamp_or_none,
)
from services.booking.domain import events
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.checkout import Checkout, RefundReason
from services.booking.domain.doctor import Doctor
from services.booking.domain.errors import SlotAlreadyHeld
from services.booking.domain.reservation import Cancellation, Reservation, ReservationStatus
from services.booking.domain.schedule import (
    AvailabilityWindow,
    Weekday,
    WeeklyAvailability,
)
from services.booking.domain.slot import Slot, SlotStatus

__all__ = [
    "availability_message",
    "checkout_message",
    "date_from",
    "doctor_message",
    "event_message",
    "method_from",
    "reservation_message",
    "reservation_status_from",
    "slot_held_message",
    "slot_length_from",
    "slot_message",
    "slot_status_from",
    "timestamp",
    "timestamp_or_none",
    "windows_from",
]

pb = booking_service_pb2

_REFUND_REASONS = enum_pair(RefundReason, pb.RefundReason, "REFUND_REASON_")
_SLOT_STATUSES = enum_pair(SlotStatus, pb.SlotStatus, "SLOT_STATUS_")
_RESERVATION_STATUSES = enum_pair(ReservationStatus, pb.ReservationStatus, "RESERVATION_STATUS_")
_CANCELLED_BY = enum_pair(CancelledBy, pb.CancelledBy, "CANCELLED_BY_")
# google.type.DayOfWeek names its days bare (MONDAY), with ISO numbers like Weekday.
_WEEKDAYS = enum_pair(Weekday, dayofweek_pb2.DayOfWeek, "")


# Domain -> proto.


def _directory_entry(doctor_id: str, entry: Doctor | events.DoctorUpdated) -> pb.Doctor:
    return pb.Doctor(
        id=doctor_id,
        display_name=entry.display_name,
        specialty=entry.specialty,
        time_zone=entry.time_zone,
        appointment_fee=money_message(entry.appointment_fee),
        active=entry.active,
        updated_at=timestamp(entry.updated_at),
    )


def doctor_message(doctor: Doctor) -> pb.Doctor:
    return _directory_entry(doctor.id, doctor)


def _window(window: AvailabilityWindow) -> pb.AvailabilityWindow:
    return pb.AvailabilityWindow(
        day_of_week=_WEEKDAYS.to_proto[window.day],
        start_time=time_of_day_message(window.start),
        end_time=time_of_day_message(window.end, end=True),
    )


def _date(day: date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def availability_message(
    doctor_id: str,
    time_zone: str,
    availability: WeeklyAvailability,
    first_date: date,
    last_date: date,
) -> pb.WeeklyAvailability:
    duration = Duration()
    duration.FromTimedelta(availability.slot_length)
    return pb.WeeklyAvailability(
        doctor_id=doctor_id,
        time_zone=time_zone,
        windows=[_window(window) for window in availability.windows],
        slot_duration=duration,
        first_date=_date(first_date),
        last_date=_date(last_date),
    )


def slot_message(slot: Slot, now: datetime, fee: Money) -> pb.Slot:
    """The slot as it stands at `now` (a hold past its expiry is free), at `fee`: the
    doctor's fee now, which a checkout started now would be priced at."""
    status = slot.status(now)
    hold = slot.live_hold(now) if status is SlotStatus.HELD else None
    return pb.Slot(
        id=slot.id,
        doctor_id=slot.doctor_id,
        starts_at=timestamp(slot.starts_at),
        ends_at=timestamp(slot.ends_at),
        status=_SLOT_STATUSES.to_proto[status],
        hold_expires_at=optional_timestamp(hold.expires_at if hold else None),
        fee=money_message(fee),
    )


def checkout_message(checkout: Checkout) -> pb.Checkout:
    return pb.Checkout(
        id=checkout.id,
        slot_id=checkout.slot_id,
        doctor_id=checkout.doctor_id,
        patient_id=checkout.patient_id,
        price=money_message(checkout.price),
        **payment_progress_fields(checkout),
        hold_expires_at=timestamp(checkout.expires_at),
        reservation_id=checkout.reservation_id or "",
        refund_reason=_REFUND_REASONS.proto_of(checkout.refund_reason),
        rescheduled_reservation_id=checkout.rescheduled_reservation_id or "",
    )


def _cancellation(cancellation: Cancellation | None) -> pb.Cancellation | None:
    if cancellation is None:
        return None
    return pb.Cancellation(
        cancelled_by=_CANCELLED_BY.to_proto[cancellation.cancelled_by],
        reason=cancellation.reason,
        refund=money_message(cancellation.refund),
        cancelled_at=timestamp(cancellation.cancelled_at),
    )


def reservation_message(reservation: Reservation) -> pb.Reservation:
    return pb.Reservation(
        id=reservation.id,
        slot_id=reservation.slot_id,
        doctor_id=reservation.doctor_id,
        patient_id=reservation.patient_id,
        starts_at=timestamp(reservation.starts_at),
        ends_at=timestamp(reservation.ends_at),
        status=_RESERVATION_STATUSES.to_proto[reservation.status],
        price=money_message(reservation.price),
        checkout_id=reservation.checkout_id,
        payment_id=reservation.payment_id,
        confirmed_at=timestamp(reservation.confirmed_at),
        cancellation=_cancellation(reservation.cancellation),
        rescheduled_from_reservation_id=reservation.rescheduled_from_reservation_id or "",
    )


def slot_held_message(error: SlotAlreadyHeld) -> pb.SlotHeld:
    """The detail of the FAILED_PRECONDITION a slot another patient holds answers with."""
    return pb.SlotHeld(slot_id=error.slot_id, hold_expires_at=timestamp(error.hold_expires_at))


# Domain events -> the published protos: booking's own, and payment's inbound messages.


def _doctor_updated(event: events.DoctorUpdated) -> events_pb2.DoctorUpdated:
    return events_pb2.DoctorUpdated(doctor=_directory_entry(event.doctor_id, event))


def _reservation_confirmed(event: events.ReservationConfirmed) -> events_pb2.ReservationConfirmed:
    return events_pb2.ReservationConfirmed(
        reservation_id=event.reservation_id,
        checkout_id=event.checkout_id,
        payment_id=event.payment_id,
        slot_id=event.slot_id,
        doctor_id=event.doctor_id,
        patient_id=event.patient_id,
        starts_at=timestamp(event.starts_at),
        ends_at=timestamp(event.ends_at),
        price=money_message(event.price),
        rescheduled_from_reservation_id=event.rescheduled_from_reservation_id or "",
        confirmed_at=timestamp(event.confirmed_at),
    )


def _reservation_cancelled(event: events.ReservationCancelled) -> events_pb2.ReservationCancelled:
    return events_pb2.ReservationCancelled(
        reservation_id=event.reservation_id,
        payment_id=event.payment_id,
        slot_id=event.slot_id,
        doctor_id=event.doctor_id,
        patient_id=event.patient_id,
        starts_at=timestamp(event.starts_at),
        cancelled_by=_CANCELLED_BY.to_proto[event.cancelled_by],
        reason=event.reason,
        refund=money_message(event.refund),
        cancelled_at=timestamp(event.cancelled_at),
    )


_EVENTS: Mapping[type, Callable[[Any], Message]] = MappingProxyType(
    {
        events.DoctorUpdated: _doctor_updated,
        events.ReservationConfirmed: _reservation_confirmed,
        events.ReservationCancelled: _reservation_cancelled,
        **outcome_messages(),
    }
)


def event_message(event: object) -> Message:
    """The proto to publish for a domain event: every event booking records is published,
    and one nobody mapped is a TypeError."""
    return event_proto(_EVENTS, event)


# Proto -> domain, for requests and consumed events.


def windows_from(
    windows: Iterable[pb.AvailabilityWindow], field: str = "windows"
) -> tuple[AvailabilityWindow, ...]:
    """The windows as given, each checked on its own (a day, whole minutes, an end after
    the start) under `field[i]`; whether they overlap is WeeklyAvailability's to say, on
    the same `windows[i]` paths. An end of 00:00 or 24:00 runs to midnight."""
    found: list[AvailabilityWindow] = []
    violations: Violations = []
    for index, message in enumerate(windows):
        path = f"{field}[{index}]"
        bad: Violations = []
        day = gathered(bad, _WEEKDAYS.required, message.day_of_week, f"{path}.day_of_week")
        start = gathered(bad, time_of_day_from, message.start_time, f"{path}.start_time")
        end = gathered(bad, time_of_day_from, message.end_time, f"{path}.end_time", True)
        if day is not None and start is not None and end is not None:
            window = AvailabilityWindow(day, start, end)
            bad += window.violations(path)
            found.append(window)
        violations += bad
    if violations:
        raise InvalidArgument.many(violations)
    return tuple(found)


def slot_length_from(message: Duration, field: str = "slot_duration") -> timedelta:
    """The length as given; WeeklyAvailability refuses one not whole minutes from 1 minute
    to 24 h (on slot_duration)."""
    if is_unset(message):
        raise field_required(field)
    try:
        return timedelta(seconds=message.seconds, microseconds=microseconds_of(message.nanos))
    except OverflowError:
        raise InvalidArgument(field, "is out of range") from None


def date_from(message: date_pb2.Date, field: str) -> date | None:
    """A local date, or None when unset. Partial dates (a year or month of 0) and days the
    calendar lacks are refused."""
    if is_unset(message):
        return None
    try:
        return date(message.year, message.month, message.day)
    except ValueError:
        raise InvalidArgument(field, "must be a calendar date, with year, month and day") from None


def slot_status_from(value: int, field: str = "status") -> SlotStatus | None:
    """A list filter: None (unspecified) means every status."""
    return _SLOT_STATUSES.optional(value, field)


def reservation_status_from(value: int, field: str = "status") -> ReservationStatus | None:
    """A list filter: None (unspecified) means every status."""
    return _RESERVATION_STATUSES.optional(value, field)
