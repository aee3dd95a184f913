"""A doctor as booking's directory keeps them: where their clock is and what a slot costs.

Booking owns the directory and publishes every change as DoctorUpdated, carrying the
whole entry, so other contexts keep copies without asking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from runtime.errors import InvalidArgument
from runtime.instants import require_utc, zone_named
from runtime.money import Money
from services.booking.domain.events import DoctorUpdated

MAX_NAME_LENGTH = 200


@dataclass
class Doctor:
    id: str
    display_name: str
    specialty: str
    time_zone: str
    appointment_fee: Money
    updated_at: datetime
    # Inactive doctors are hidden from patients and get no new checkouts.
    active: bool = True
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_utc(self.updated_at, "updated_at")
        _check(self.id, self.display_name, self.specialty, self.time_zone, self.appointment_fee)

    @classmethod
    def create(
        cls,
        *,
        doctor_id: str,
        display_name: str,
        specialty: str,
        time_zone: str,
        appointment_fee: Money,
        now: datetime,
    ) -> Doctor:
        doctor = cls(doctor_id, display_name, specialty, time_zone, appointment_fee, now)
        doctor._record()
        return doctor

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.time_zone)

    def update(
        self,
        *,
        now: datetime,
        display_name: str | None = None,
        specialty: str | None = None,
        time_zone: str | None = None,
        appointment_fee: Money | None = None,
        active: bool | None = None,
    ) -> bool:
        """Change the given fields (None keeps one); records DoctorUpdated if anything changed.

        A new fee applies to checkouts started afterwards: a checkout keeps the price it
        started with. A new time zone moves no existing slot.
        """
        changed = {
            name: value
            for name, value in (
                ("display_name", display_name),
                ("specialty", specialty),
                ("time_zone", time_zone),
                ("appointment_fee", appointment_fee),
                ("active", active),
            )
            if value is not None and value != getattr(self, name)
        }
        if not changed:
            return False
        merged = {
            name: changed.get(name, getattr(self, name))
            for name in ("display_name", "specialty", "time_zone", "appointment_fee")
        }
        _check(self.id, **merged)
        for name, value in changed.items():
            setattr(self, name, value)
        # Consumers keep the copy with the newest updated_at; a replica whose clock runs
        # behind must not make a newer entry look older.
        self.updated_at = max(now, self.updated_at)
        self._record()
        return True

    def _record(self) -> None:
        self.events.append(
            DoctorUpdated(
                doctor_id=self.id,
                display_name=self.display_name,
                specialty=self.specialty,
                time_zone=self.time_zone,
                appointment_fee=self.appointment_fee,
                active=self.active,
                updated_at=self.updated_at,
            )
        )


def _check(
    doctor_id: str, display_name: str, specialty: str, time_zone: str, appointment_fee: Money
) -> None:
    violations = []
    if not doctor_id.strip():
        violations.append(("doctor_id", "is required"))
    for name, value in (("display_name", display_name), ("specialty", specialty)):
        if not value.strip():
            violations.append((name, "is required"))
        elif len(value) > MAX_NAME_LENGTH:
            violations.append((name, f"must be at most {MAX_NAME_LENGTH} characters"))
    if appointment_fee.amount_minor <= 0:
        # Booking sells nothing for free: a reservation exists only for a confirmed payment.
        violations.append(("appointment_fee", "must be more than zero"))
    if violations:
        raise InvalidArgument.many(violations)
    zone_named(time_zone)
