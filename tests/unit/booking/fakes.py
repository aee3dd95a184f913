"""Booking's unit of work in memory, and a payment service that answers as told."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from clients.payment import Failure, OpenedAttempt, PaymentOrder
from purchasing.quota import OpenCheckouts, open_checkouts
from services.booking.domain.checkout import Checkout
from services.booking.domain.doctor import Doctor
from services.booking.domain.reservation import Reservation
from services.booking.domain.schedule import StoredAvailability, WeeklyAvailability
from services.booking.domain.slot import Slot
from services.booking.handlers.context import Context
from tests.unit.booking.builders import NOW
from tests.unit.fakes import FakeUnitOfWork, InMemoryRows


class Slots(InMemoryRows[Slot]):
    # The unit's checkouts and doctors, for `with_checkout`.
    checkouts: InMemoryRows[Checkout]
    doctors: InMemoryRows[Doctor]

    async def with_checkout(self, checkout_id: str) -> tuple[Slot, Checkout, Doctor | None] | None:
        checkout = await self.checkouts.get(checkout_id)
        if checkout is None:
            return None
        slot = await self.get(checkout.slot_id)
        assert slot is not None
        return slot, checkout, await self.doctors.get(checkout.doctor_id)

    async def between(
        self, doctor_id: str, starts_from: datetime, starts_before: datetime, *, for_update=False
    ) -> list[Slot]:
        return sorted(
            (
                slot
                for slot in self.all()
                if slot.doctor_id == doctor_id and starts_from <= slot.starts_at < starts_before
            ),
            key=lambda slot: slot.starts_at,
        )

    async def save_all(self, batch: Sequence[Slot]) -> None:
        for slot in batch:
            await self.save(slot)


class Checkouts(InMemoryRows[Checkout]):
    async def open_past_hold(self, now: datetime, limit: int) -> list[str]:
        lapsed = sorted(
            (c for c in self.all() if c.is_open and c.expires_at <= now),
            key=lambda c: c.expires_at,
        )
        return [c.id for c in lapsed[:limit]]

    async def open_of(self, patient_id: str, now: datetime) -> OpenCheckouts:
        return open_checkouts(self.all(), patient_id, now)


class Availabilities(InMemoryRows[StoredAvailability]):
    key = "doctor_id"

    async def save(  # type: ignore[override]
        self,
        doctor_id: str,
        availability: WeeklyAvailability,
        first_date: date,
        last_date: date,
        at: datetime,
    ) -> None:
        await super().save(StoredAvailability(doctor_id, availability, first_date, last_date))


class Reservations(InMemoryRows[Reservation]):
    async def page(self, *, patient_id, doctor_id, status, limit, **_) -> list[Reservation]:
        """The repository's filters on people and status (None: any), in time order; the
        time bounds and cursor are left to the integration tests."""
        return sorted(
            (
                r
                for r in self.all()
                if patient_id in (None, r.patient_id)
                and doctor_id in (None, r.doctor_id)
                and status in (None, r.status)
            ),
            key=lambda r: (r.starts_at, r.id),
        )[:limit]


def booking_unit(*stored: Doctor | Slot | Checkout | Reservation) -> FakeUnitOfWork:
    """Booking's unit with `stored` already kept, each in its own repository."""
    slots = Slots(*(s for s in stored if isinstance(s, Slot)))
    slots.checkouts = Checkouts(*(s for s in stored if isinstance(s, Checkout)))
    slots.doctors = InMemoryRows(*(s for s in stored if isinstance(s, Doctor)))
    return FakeUnitOfWork(
        doctors=slots.doctors,
        availabilities=Availabilities(),
        slots=slots,
        checkouts=slots.checkouts,
        reservations=Reservations(*(s for s in stored if isinstance(s, Reservation))),
    )


@dataclass
class Payments:
    """Payment as booking's handlers call it: every order and retry is kept; each answers
    with a new attempt, or with `failure` (a wallet too short) or `down` (unreachable)."""

    failure: Failure | None = None
    down: Exception | None = None
    orders: list[PaymentOrder] = field(default_factory=list)
    # (payment id, key, method, return URL) of each retry.
    retries: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def open(self, order: PaymentOrder) -> OpenedAttempt:
        if self.down is not None:
            raise self.down
        self.orders.append(order)
        return self._attempt(f"payment-{order.purchase_ref}", 1)

    async def retry(self, payment_id: str, key: str, method: str, return_url: str) -> OpenedAttempt:
        if self.down is not None:
            raise self.down
        self.retries.append((payment_id, key, method, return_url))
        return self._attempt(payment_id, len(self.retries) + 1)

    def _attempt(self, payment_id: str, number: int) -> OpenedAttempt:
        return OpenedAttempt(
            payment_id=payment_id,
            attempt_id=f"{payment_id}-attempt-{number}",
            checkout_url=None if self.failure else f"https://pay.example/{payment_id}/{number}",
            failure=self.failure,
        )


def context(unit: FakeUnitOfWork, payments: Payments | None = None, *, now=NOW) -> Context:
    """Booking's handlers' context over `unit`, with the clock stopped at `now`."""
    return Context(lambda: unit, payments or Payments(), clock=lambda: now)  # type: ignore[arg-type]
