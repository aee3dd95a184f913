"""A bookable slot, its hold and its one active reservation.

A hold is a lease, not a reservation: it keeps other patients off the slot while one
patient pays, and simply stops counting at `expires_at`, so an abandoned checkout frees
its slot without any job having to run. Only a confirmed payment books the slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from runtime.instants import require_utc
from services.booking.domain.errors import (
    SlotAlreadyBooked,
    SlotAlreadyHeld,
    SlotInUse,
    SlotNotBookable,
)


class SlotStatus(Enum):
    FREE = "free"
    HELD = "held"
    BOOKED = "booked"


@dataclass(frozen=True, order=True)
class SlotTime:
    """Where a slot sits on the timeline, in UTC."""

    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Hold:
    checkout_id: str
    patient_id: str
    expires_at: datetime

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass
class Slot:
    id: str
    doctor_id: str
    starts_at: datetime
    ends_at: datetime
    hold: Hold | None = None
    # The active reservation; at most one, which the database's partial unique index
    # enforces too.
    reservation_id: str | None = None
    withdrawn: bool = False

    def __post_init__(self) -> None:
        require_utc(self.starts_at, "starts_at")
        require_utc(self.ends_at, "ends_at")
        if self.ends_at <= self.starts_at:
            raise ValueError(f"slot {self.id} must end after it starts")

    @property
    def time(self) -> SlotTime:
        return SlotTime(self.starts_at, self.ends_at)

    def live_hold(self, now: datetime) -> Hold | None:
        return self.hold if self.hold is not None and self.hold.is_live(now) else None

    def status(self, now: datetime) -> SlotStatus:
        if self.reservation_id is not None:
            return SlotStatus.BOOKED
        return SlotStatus.HELD if self.live_hold(now) else SlotStatus.FREE

    def in_use(self, now: datetime) -> bool:
        return self.status(now) is not SlotStatus.FREE

    def take_hold(
        self, *, checkout_id: str, patient_id: str, now: datetime, ttl: timedelta
    ) -> Hold:
        """Lease the slot to a checkout for `ttl`; an expired hold is simply replaced.

        A hold never outlasts the slot's start, so neither does the payment made under it.
        """
        if self.withdrawn:
            raise SlotNotBookable(self.id, "it is no longer offered")
        if now >= self.starts_at:
            raise SlotNotBookable(self.id, "it has already started")
        if self.reservation_id is not None:
            raise SlotAlreadyBooked(self.id)
        held = self.live_hold(now)
        if held is not None and held.checkout_id != checkout_id:
            raise SlotAlreadyHeld(self.id, held.expires_at)
        self.hold = Hold(checkout_id, patient_id, min(now + ttl, self.starts_at))
        return self.hold

    def release_hold(self, checkout_id: str) -> None:
        """Drop the hold if it is this checkout's; another checkout's hold is left alone."""
        if self.hold is not None and self.hold.checkout_id == checkout_id:
            self.hold = None

    def book(self, reservation_id: str, checkout_id: str, now: datetime) -> None:
        """Give the slot to a paid checkout; whatever hold it had is over."""
        if self.reservation_id not in (None, reservation_id):
            raise SlotAlreadyBooked(self.id)
        held = self.live_hold(now)
        if held is not None and held.checkout_id != checkout_id:
            raise SlotAlreadyHeld(self.id, held.expires_at)
        self.reservation_id = reservation_id
        self.hold = None

    def free(self, reservation_id: str) -> None:
        """The reservation was cancelled: the slot can be sold again."""
        if self.reservation_id == reservation_id:
            self.reservation_id = None

    def withdraw(self, now: datetime) -> None:
        """Take a free slot off sale (it no longer fits the doctor's pattern)."""
        if self.in_use(now):
            raise SlotInUse(self.id)
        self.withdrawn = True
