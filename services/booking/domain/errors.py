"""The booking rules a caller can break, each named for the rule.

The kind each one subclasses (InvalidArgument, NotFound, FailedPrecondition) decides its
gRPC status in one place; the class name becomes the ErrorInfo reason and the keyword
arguments its metadata.
"""

from __future__ import annotations

from datetime import datetime

from runtime.errors import FailedPrecondition, NotFound


class SlotNotBookable(FailedPrecondition):
    """The slot is withdrawn, has started, or its doctor takes no bookings."""

    def __init__(self, slot_id: str, why: str) -> None:
        super().__init__(f"slot {slot_id} cannot be booked: {why}", slot_id=slot_id)


class SlotAlreadyBooked(FailedPrecondition):
    def __init__(self, slot_id: str) -> None:
        super().__init__(f"slot {slot_id} is already booked", slot_id=slot_id)


class SlotAlreadyHeld(FailedPrecondition):
    """Another patient's checkout holds the slot; it may be free again at `hold_expires_at`."""

    def __init__(self, slot_id: str, hold_expires_at: datetime) -> None:
        super().__init__(
            f"slot {slot_id} is held by another patient until {hold_expires_at.isoformat()}",
            slot_id=slot_id,
            hold_expires_at=hold_expires_at.isoformat(),
        )
        self.slot_id = slot_id
        self.hold_expires_at = hold_expires_at


class SlotInUse(FailedPrecondition):
    """Only a free slot can be withdrawn from sale."""

    def __init__(self, slot_id: str) -> None:
        super().__init__(f"slot {slot_id} is held or booked", slot_id=slot_id)


class ReservationAlreadyCancelled(FailedPrecondition):
    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"reservation {reservation_id} is already cancelled", reservation_id=reservation_id
        )


class AppointmentAlreadyStarted(FailedPrecondition):
    """A patient cannot cancel or move an appointment once its time has come."""

    def __init__(self, reservation_id: str, starts_at: datetime) -> None:
        super().__init__(
            f"reservation {reservation_id} started at {starts_at.isoformat()}",
            reservation_id=reservation_id,
            starts_at=starts_at.isoformat(),
        )


class ReservationNotFound(NotFound):
    """Does not exist or is not the caller's: the two look the same from outside."""

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"reservation {reservation_id} not found", reservation_id=reservation_id)
