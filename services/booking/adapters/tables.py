"""Booking's tables. The rules that can live in the schema live here too, as the last word
when code is wrong: one doctor never has two slots starting at the same instant, a slot
has at most one confirmed reservation (no double booking, whatever races the handlers
lose), one reservation per payment and per checkout, and no row in a state the domain
cannot reach (a hold or a failure half written, a status nobody knows).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from purchasing.checkout import OPEN
from purchasing.tables import OpenByPatient, expired_checkouts, payment_progress
from runtime.columns import all_or_none, instant, one_of, sql_list
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.checkout import RefundReason
from services.booking.domain.reservation import ReservationStatus

metadata = MetaData()

# A checkout still waiting for its payment, and holding its slot while the hold lasts.
OPEN_CHECKOUT_STATUSES = tuple(sorted(status.value for status in OPEN))


def _currency() -> Column:
    return Column("currency", Text, CheckConstraint("currency ~ '^[A-Z]{3}$'"), nullable=False)


def _minor(name: str, nullable: bool = False) -> Column:
    return Column(name, BigInteger, CheckConstraint(f"{name} >= 0"), nullable=nullable)


def _purchase() -> tuple[Column, ...]:
    """Which patient buys which doctor's slot: what a checkout and its reservation share."""
    return (
        Column("slot_id", Text, ForeignKey("slots.id"), nullable=False),
        Column("doctor_id", Text, nullable=False),
        Column("patient_id", Text, nullable=False),
    )


def _price() -> tuple[Column, ...]:
    return _minor("price_minor"), _currency()


doctors = Table(
    "doctors",
    metadata,
    Column("id", Text, primary_key=True),
    Column("display_name", Text, nullable=False),
    Column("specialty", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    _minor("fee_minor"),
    _currency(),
    Column("active", Boolean, nullable=False),
    instant("updated_at", nullable=False),
    # The directory is listed by specialty, a page at a time in id order.
    Index("doctors_by_specialty", "specialty", "id"),
)

availabilities = Table(
    "availabilities",
    metadata,
    Column("doctor_id", Text, ForeignKey("doctors.id"), primary_key=True),
    # [{day_of_week, start_minute, end_minute}] in the pattern's order: ISO day (1 is
    # Monday) and minutes from local midnight. The domain's windows are whole minutes, so
    # this is exact; an end of 1440 is its END_OF_DAY (an end time of 00:00).
    Column(
        "windows",
        JSONB,
        CheckConstraint("jsonb_typeof(windows) = 'array'"),
        CheckConstraint(
            "NOT jsonb_path_exists(windows, '$[*] ? (@.day_of_week < 1 || @.day_of_week > 7"
            " || @.start_minute < 0 || @.end_minute > 1440 || @.end_minute <= @.start_minute)')",
            name="availabilities_windows_in_a_day",
        ),
        nullable=False,
    ),
    Column(
        "slot_length_seconds",
        Integer,
        CheckConstraint(
            "slot_length_seconds BETWEEN 60 AND 86400 AND slot_length_seconds % 60 = 0"
        ),
        nullable=False,
    ),
    Column("first_date", Date, nullable=False),
    Column("last_date", Date, nullable=False),
    instant("updated_at", nullable=False),
    CheckConstraint("first_date <= last_date"),
)

slots = Table(
    "slots",
    metadata,
    Column("id", Text, primary_key=True),
    Column("doctor_id", Text, ForeignKey("doctors.id"), nullable=False),
    instant("starts_at", nullable=False),
    instant("ends_at", nullable=False),
    Column("hold_checkout_id", Text),
    Column("hold_patient_id", Text),
    instant("hold_expires_at"),
    # The active reservation; none once it is cancelled and the slot is for sale again.
    Column("reservation_id", Text),
    # Off sale but kept: checkouts and reservations name it.
    Column("withdrawn", Boolean, nullable=False),
    CheckConstraint("ends_at > starts_at"),
    all_or_none("hold_checkout_id", "hold_patient_id", "hold_expires_at"),
    # Also the index a doctor's slots are read by, in time order.
    UniqueConstraint("doctor_id", "starts_at", name="slots_one_per_doctor_and_start"),
)

checkouts = Table(
    "checkouts",
    metadata,
    Column("id", Text, primary_key=True),
    *_purchase(),
    *_price(),
    *payment_progress(),
    Column("reservation_id", Text),
    Column("refund_reason", Text, one_of("refund_reason", RefundReason)),
    Column("rescheduled_reservation_id", Text),
    instant("hold_expires_at", nullable=False),
    # A payment confirmed is answered with exactly one of a reservation or a refund.
    CheckConstraint(
        "(status = 'confirmed') = (reservation_id IS NOT NULL)", name="checkouts_confirmed"
    ),
    CheckConstraint(
        "(status = 'refunded') = (refund_reason IS NOT NULL)", name="checkouts_refunded"
    ),
    Index("checkouts_by_patient", "patient_id", "created_at"),
    # The expiry sweeper reads only checkouts still open, so its cost does not grow with
    # history; open_past_hold's filter is this predicate.
    Index(
        "checkouts_open_by_hold",
        "hold_expires_at",
        postgresql_where=text(f"status IN ({sql_list(OPEN_CHECKOUT_STATUSES)})"),
    ),
    # Payment's events name the payment; a late or duplicate one is matched by it.
    Index("checkouts_by_payment", "payment_id"),
)
# What a patient's open checkouts are counted on, against booking's cap.
OPEN_BY_PATIENT = OpenByPatient(checkouts, checkouts.c.hold_expires_at)
# An expired checkout goes once its slot's hold, lapsed or not, no longer names it.
EXPIRED_CHECKOUTS, EXPIRED_CHECKOUTS_INDEX = expired_checkouts(
    checkouts,
    unless="NOT EXISTS (SELECT 1 FROM slots s"
    " WHERE s.id = t.slot_id AND s.hold_checkout_id = t.id)",
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", Text, primary_key=True),
    *_purchase(),
    instant("starts_at", nullable=False),
    instant("ends_at", nullable=False),
    *_price(),
    Column("checkout_id", Text, nullable=False, unique=True),
    # One reservation per confirmed payment: a redelivered PaymentConfirmed that slipped
    # past the checkout's state would otherwise book a second time for the same money.
    Column("payment_id", Text, nullable=False, unique=True),
    instant("confirmed_at", nullable=False),
    Column("status", Text, one_of("status", ReservationStatus), nullable=False),
    Column("cancelled_by", Text, one_of("cancelled_by", CancelledBy)),
    Column("cancel_reason", Text),
    _minor("refund_minor", nullable=True),
    instant("cancelled_at"),
    Column("rescheduled_from_reservation_id", Text),
    CheckConstraint("ends_at > starts_at"),
    all_or_none("cancelled_by", "cancel_reason", "refund_minor", "cancelled_at"),
    CheckConstraint(
        "(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="reservations_cancelled"
    ),
    CheckConstraint("refund_minor <= price_minor", name="reservations_refund_within_price"),
    # No double booking: two payments racing for one slot both reach here, and only one
    # commits. A cancelled reservation no longer holds its slot, so it can be sold again.
    Index(
        "reservations_one_active_per_slot",
        "slot_id",
        unique=True,
        postgresql_where=text("status = 'confirmed'"),
    ),
    Index("reservations_by_patient", "patient_id", "starts_at", "id"),
    Index("reservations_by_doctor", "doctor_id", "starts_at", "id"),
)
