"""Consultation's repositories in memory, for its handlers' unit tests, and payment as
the handlers call it.

Each repository answers only what a use case asks of it (the admins' audit trail page is
the database's alone: tests/integration/consultation); the lists answer in the order the
database's queries promise.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Generic, TypeVar

from clients.payment import Failure, OpenedAttempt, PaymentOrder
from purchasing.checkout import OPEN
from purchasing.quota import OpenCheckouts, open_checkouts
from runtime import errors
from services.consultation.domain.assignment import Candidate
from services.consultation.domain.audit import AuditEntry
from services.consultation.domain.chat import ChatMessage, messages_after
from services.consultation.domain.checkout import Checkout
from services.consultation.domain.consultation import (
    ONGOING,
    UNTAKEN,
    Consultation,
    ConsultationStatus,
)
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.intake import Intake
from services.consultation.domain.offers import PriceList
from services.consultation.domain.queue import queue_order
from services.consultation.domain.session import ClinicalSession, ClinicalSessionStatus
from tests.unit.consultation.builders import PRICES
from tests.unit.fakes import FakeUnitOfWork, InMemoryRows

T = TypeVar("T")


def _due(rows: Iterable[T], at: str, now: datetime, limit: int) -> list[str]:
    """Ids of `rows` whose `at` has come by `now`, the longest overdue first."""
    due = sorted((getattr(row, at), row.id) for row in rows if getattr(row, at) <= now)
    return [row_id for _, row_id in due[:limit]]


class InMemoryConsultations(InMemoryRows[Consultation]):
    async def page(
        self,
        *,
        patient_id: str | None,
        doctor_id: str | None,
        status: ConsultationStatus | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Consultation]:
        """Newest first; None filters nothing."""
        found = [
            c
            for c in self.all()
            if patient_id in (None, c.patient_id)
            and doctor_id in (None, c.doctor_id)
            and status in (None, c.status)
            and (after is None or (c.created_at, c.id) < after)
        ]
        found.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        return found[:limit]

    async def waiting(self, limit: int, *, for_update: bool = False) -> list[Consultation]:
        queued = [c for c in self.all() if c.status is ConsultationStatus.WAITING_FOR_DOCTOR]
        return sorted(queued, key=queue_order)[:limit]

    async def untaken_past_deadline(self, now: datetime, limit: int) -> list[str]:
        return _due((c for c in self.all() if c.status in UNTAKEN), "accept_by", now, limit)


class InMemoryDoctors(InMemoryRows[Doctor]):
    """Loads are counted from the consultations, as the database's query counts them."""

    def __init__(self, consultations: InMemoryConsultations, *doctors: Doctor) -> None:
        super().__init__(*doctors)
        self._consultations = consultations

    async def on_shift_candidates(self, now: datetime) -> list[Candidate]:
        held = self._consultations.all()
        candidates = []
        for doctor in sorted(self.all(), key=lambda d: d.id):
            if not (doctor.active and doctor.on_shift(now)):
                continue
            theirs = [c for c in held if c.doctor_id == doctor.id]
            ongoing = sum(1 for c in theirs if c.status in ONGOING)
            assigned = [c.assigned_at for c in theirs if c.assigned_at is not None]
            candidates.append(Candidate(doctor, ongoing, max(assigned, default=None)))
        return candidates


class InMemoryCheckouts(InMemoryRows[Checkout]):
    async def open_past_expiry(self, now: datetime, limit: int) -> list[str]:
        return _due((c for c in self.all() if c.status in OPEN), "expires_at", now, limit)

    async def open_of(self, patient_id: str, now: datetime) -> OpenCheckouts:
        return open_checkouts(self.all(), patient_id, now)


class InMemoryClinicalSessions(InMemoryRows[ClinicalSession]):
    async def awaiting_past_expiry(self, now: datetime, limit: int) -> list[str]:
        awaiting = (s for s in self.all() if s.status is ClinicalSessionStatus.AWAITING_SYMPTOMS)
        return _due(awaiting, "expires_at", now, limit)


class InMemoryPrices:
    """The platform's default prices, replaced as a whole."""

    def __init__(self, prices: PriceList) -> None:
        self.current = prices
        self._before = prices

    async def get_all(self) -> PriceList:
        return self.current

    async def save(self, prices: PriceList, at: datetime) -> None:
        self.current = prices

    def begin(self) -> None:
        self._before = self.current

    def rollback(self) -> None:
        self.current = self._before


class InMemoryFacts(Generic[T]):
    """Facts added once and never changed (chat messages, audit entries), in order."""

    def __init__(self) -> None:
        self.added: list[T] = []
        self._before = 0

    def begin(self) -> None:
        self._before = len(self.added)

    def rollback(self) -> None:
        del self.added[self._before :]


class InMemoryChatMessages(InMemoryFacts[ChatMessage]):
    async def add(self, message: ChatMessage) -> None:
        # The database's primary key (consultation, sequence) refuses a second one.
        taken = {(m.consultation_id, m.sequence) for m in self.added}
        if (message.consultation_id, message.sequence) in taken:
            raise ValueError(f"sequence {message.sequence} is taken")
        self.added.append(message)

    async def after(
        self, consultation_id: str, after_sequence: int, limit: int
    ) -> list[ChatMessage]:
        theirs = [m for m in self.added if m.consultation_id == consultation_id]
        return messages_after(theirs, after_sequence)[:limit]


class InMemoryAuditEntries(InMemoryFacts[AuditEntry]):
    async def add(self, entry: AuditEntry) -> None:
        self.added.append(entry)

    async def add_all(self, entries: Iterable[AuditEntry]) -> None:
        self.added.extend(entries)


def fake_unit(
    *,
    doctors: Iterable[Doctor] = (),
    intakes: Iterable[Intake] = (),
    checkouts: Iterable[Checkout] = (),
    clinical_sessions: Iterable[ClinicalSession] = (),
    consultations: Iterable[Consultation] = (),
    prices: PriceList = PRICES,
) -> FakeUnitOfWork:
    """Consultation's unit of work in memory, holding what is given (facts recorded but
    not yet published are not kept, as a row does not keep them)."""
    held = InMemoryConsultations(*consultations)
    return FakeUnitOfWork(
        doctors=InMemoryDoctors(held, *doctors),
        prices=InMemoryPrices(prices),
        intakes=InMemoryRows(*intakes),
        checkouts=InMemoryCheckouts(*checkouts),
        clinical_sessions=InMemoryClinicalSessions(*clinical_sessions),
        consultations=held,
        messages=InMemoryChatMessages(),
        audit=InMemoryAuditEntries(),
    )


class FakePayments:
    """Payment as consultation's handlers call it. It records each order and retry and
    answers with the attempt it opened: payment-<checkout id>, attempt-<key>. Set
    `failure` for a failure told at once (a wallet too short), or `reachable = False`."""

    def __init__(self) -> None:
        self.orders: list[PaymentOrder] = []
        # (payment id, key, method, return URL) of each retry.
        self.retries: list[tuple[str, str, str, str]] = []
        self.failure: Failure | None = None
        self.reachable = True

    async def open(self, order: PaymentOrder) -> OpenedAttempt:
        self._ensure_reachable()
        self.orders.append(order)
        return self._attempt(f"payment-{order.purchase_ref}", order.purchase_ref)

    async def retry(self, payment_id: str, key: str, method: str, return_url: str) -> OpenedAttempt:
        self._ensure_reachable()
        self.retries.append((payment_id, key, method, return_url))
        return self._attempt(payment_id, key)

    def _ensure_reachable(self) -> None:
        if not self.reachable:
            raise errors.Unavailable("payment cannot be reached; retry with the same key")

    def _attempt(self, payment_id: str, key: str) -> OpenedAttempt:
        return OpenedAttempt(
            payment_id=payment_id,
            attempt_id=f"attempt-{key}",
            checkout_url=f"https://pay.example/{key}",
            failure=self.failure,
        )
