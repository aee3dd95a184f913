"""Payment events in any order, any number of times, then the clinical session's fate:
every confirmed payment ends in exactly one outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from purchasing.checkout import CheckoutStatus, PaymentFailure, PaymentMethod
from purchasing.events import PurchaseFulfilled, PurchaseRejected, RefundRequested
from runtime.errors import FailedPrecondition
from runtime.money import Money
from services.consultation.domain.consultation import Consultation, open_consultation
from services.consultation.domain.session import ClinicalSession, ClinicalSessionStatus
from tests.unit.consultation.builders import (
    NOW,
    RULES,
    a_checkout,
    a_doctor,
    an_intake,
    attempt_opened,
    candidates,
    confirm,
    symptoms,
)

OURS = "payment-checkout-1"
PRICE = Money(500_000, "IRR")

confirmed = st.tuples(st.just("confirm"), st.sampled_from([OURS, "payment-second"]), st.booleans())
failed = st.tuples(st.just("fail"), st.sampled_from([1, 2]), st.booleans())
payment_events = st.one_of(
    confirmed,
    failed,
    st.tuples(st.just("expire")),
    st.tuples(st.just("retry"), st.sampled_from(list(PaymentMethod))),
    st.tuples(st.just("doctor_leaves")),
    st.tuples(st.just("tick"), st.sampled_from([1, 10, 60, 60 * 24, 60 * 71, 60 * 73])),
)
clinical_events = st.one_of(st.tuples(st.just("submit")), st.tuples(st.just("expiry_job")))
anything = st.one_of(payment_events, clinical_events)


@dataclass
class World:
    chosen: bool
    now: datetime = NOW
    sessions: list[ClinicalSession] = field(default_factory=list)
    consultations: list[Consultation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.doctor = a_doctor() if self.chosen else None
        self.intake = an_intake()
        self.checkout = a_checkout(self.intake, doctor=self.doctor)

    def apply(self, step: tuple) -> None:
        kind, *args = step
        if kind == "tick":
            self.now += timedelta(minutes=args[0])
        elif kind == "confirm":
            payment_id, right_amount = args
            amount = PRICE if right_amount else Money(PRICE.amount_minor + 1, "IRR")
            session = confirm(
                self.checkout,
                at=self.now,
                amount=amount,
                payment_id=payment_id,
                doctor=self.doctor,
                session_id=f"session-{len(self.sessions) + 1}",
            )
            self.sessions += [session] if session is not None else []
        elif kind == "fail":
            attempt, retryable = args
            self.checkout.payment_failed(
                PaymentFailure("card_declined", "Declined.", retryable),
                now=self.now,
                payment_id=OURS,
                attempt_id=f"attempt-checkout-1-{attempt}",
            )
        elif kind == "expire":
            self.checkout.expire(self.now)
        elif kind == "retry":
            self.retry(args[0])
        elif kind == "doctor_leaves" and self.doctor is not None:
            self.doctor.active = False
        elif kind == "submit":
            self.submit()
        elif kind == "expiry_job":
            for session in self.sessions:
                session.expire(self.now)

    def retry(self, method: PaymentMethod) -> None:
        try:
            self.checkout.retry(self.now, method)
        except FailedPrecondition:
            return
        attempt_opened(self.checkout, self.now)

    def submit(self) -> None:
        for session in self.sessions:
            try:
                consultation = open_consultation(
                    session,
                    patient_id="patient-1",
                    consultation_id=f"consultation-{len(self.consultations) + 1}",
                    details="Worse at night.",
                    symptoms=symptoms("cough"),
                    intake=self.intake,
                    triage=RULES,
                    chosen_doctor=self.doctor,
                    candidates=candidates(a_doctor("doctor-2")),
                    now=self.now,
                )
            except FailedPrecondition:
                continue
            self.consultations.append(consultation)

    def answers(self, payment_id: str) -> list[object]:
        return [
            event
            for event in self.checkout.events
            if isinstance(event, PurchaseFulfilled | PurchaseRejected)
            and event.payment_id == payment_id
        ]

    def refunds(self) -> list[RefundRequested]:
        return [
            event
            for session in self.sessions
            for event in session.events
            if isinstance(event, RefundRequested)
        ]


def run(chosen: bool, steps: list[tuple]) -> World:
    world = World(chosen)
    for step in steps:
        world.apply(step)
    return world


@given(st.booleans(), st.lists(anything, max_size=30))
def test_every_confirmed_payment_is_answered_exactly_once_with_a_session_or_a_refund(chosen, steps):
    world = run(chosen, steps)

    for payment_id in (OURS, "payment-second"):
        confirmations = [s for s in steps if s[0] == "confirm" and s[1] == payment_id]
        assert len(world.answers(payment_id)) == (1 if confirmations else 0)
    fulfilled = [e for e in world.checkout.events if isinstance(e, PurchaseFulfilled)]
    assert len(world.sessions) == len(fulfilled) <= 1
    assert (world.checkout.status is CheckoutStatus.CONFIRMED) == bool(world.sessions)
    if world.sessions:
        assert world.checkout.clinical_session_id == world.sessions[0].id
    if world.checkout.status is CheckoutStatus.REFUNDED:
        assert world.checkout.refund_reason is not None


@given(st.booleans(), st.lists(anything, max_size=30))
def test_a_session_ends_in_one_consultation_or_one_refund_never_both(chosen, steps):
    world = run(chosen, steps)
    # Whatever happened, time runs out and the expiry job runs, more than once.
    for step in [("tick", 60 * 73), ("expiry_job",), ("expiry_job",), ("submit",)]:
        world.apply(step)

    assert len(world.consultations) <= 1
    for session in world.sessions:
        outcomes = len(world.consultations) + len(world.refunds())
        assert outcomes == 1
        if world.consultations:
            assert session.status is ClinicalSessionStatus.SYMPTOMS_SUBMITTED
            assert session.consultation_id == world.consultations[0].id
        else:
            assert session.status is ClinicalSessionStatus.EXPIRED
            assert world.refunds()[0].amount == session.price
    if not world.sessions:
        assert world.consultations == [] and world.refunds() == []


@given(st.booleans(), st.lists(payment_events, max_size=20))
def test_each_payment_event_delivered_twice_has_the_effect_of_once(chosen, steps):
    once = run(chosen, steps)
    twice = World(chosen)
    for step in steps:
        twice.apply(step)
        if step[0] not in ("tick", "retry"):
            twice.apply(step)

    assert twice.checkout == once.checkout
    assert twice.checkout.events == once.checkout.events
    assert twice.sessions == once.sessions
