"""Payment events in any order, any number of times, against one checkout."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from purchasing.checkout import CheckoutStatus, ConfirmedPayment, PaymentFailure, PaymentMethod
from purchasing.events import PurchaseFulfilled, PurchaseRejected
from runtime.errors import FailedPrecondition
from runtime.money import Money
from services.booking.domain.checkout import Checkout, hold_slot
from services.booking.domain.reservation import Reservation
from services.booking.domain.slot import Slot
from tests.unit.booking.builders import FEE, NOW, a_checkout, a_doctor, a_slot

OURS = "payment-checkout-1"

confirmed = st.tuples(st.just("confirm"), st.sampled_from([OURS, "payment-second"]), st.booleans())
failed = st.tuples(st.just("fail"), st.sampled_from([1, 2]), st.booleans())
expired = st.tuples(st.just("expire"))
retried = st.tuples(st.just("retry"), st.sampled_from(list(PaymentMethod)))
rival = st.tuples(st.just("rival"))
tick = st.tuples(st.just("tick"), st.integers(1, 8))

# Only what payment can say about our own checkout, with the right amount.
honest_messages = st.one_of(
    st.just(("confirm", OURS, True)),
    failed,
    expired,
    tick,
)
anything = st.one_of(confirmed, failed, expired, retried, rival, tick)


@dataclass
class World:
    """One slot, our patient's checkout, and whatever else happens to the slot."""

    slot: Slot = field(default_factory=a_slot)
    now: datetime = NOW
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    reservations: list[Reservation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ours = a_checkout(self.slot)
        self.checkouts[self.ours.id] = self.ours

    def apply(self, step: tuple) -> None:
        kind, *args = step
        if kind == "tick":
            self.now += timedelta(minutes=args[0])
        elif kind == "confirm":
            payment_id, right_amount = args
            amount = FEE if right_amount else Money(FEE.amount_minor + 1, FEE.currency)
            self.confirm(self.ours, ConfirmedPayment(payment_id, amount, self.now))
        elif kind == "fail":
            attempt, retryable = args
            self.ours.attempt_failed(
                PaymentFailure("card_declined", "Declined.", retryable),
                slot=self.slot,
                now=self.now,
                payment_id=OURS,
                attempt_id=f"attempt-checkout-1-{attempt}",
            )
        elif kind == "expire":
            self.ours.lapse(slot=self.slot, now=self.now)
        elif kind == "retry":
            self.retry(args[0])
        elif kind == "rival":
            self.rival_books()

    def confirm(self, checkout: Checkout, payment: ConfirmedPayment) -> None:
        reservation = checkout.payment_confirmed(
            payment,
            slot=self.slot,
            doctor=a_doctor(),
            reservation_id=f"reservation-{len(self.reservations) + 1}",
            now=self.now,
        )
        if reservation is not None:
            self.reservations.append(reservation)

    def retry(self, method: PaymentMethod) -> None:
        try:
            self.ours.retry(self.now, method)
        except FailedPrecondition:
            return
        self.ours.payment_created(
            payment_id=OURS,
            attempt_id=f"attempt-checkout-1-{self.ours.attempt}",
            checkout_url=None,
            now=self.now,
        )

    def rival_books(self) -> None:
        held_by = self.checkouts[self.slot.hold.checkout_id] if self.slot.hold else None
        try:
            checkout = hold_slot(
                checkout_id=f"rival-{len(self.checkouts)}",
                slot=self.slot,
                doctor=a_doctor(),
                patient_id="patient-2",
                method=PaymentMethod.WALLET,
                now=self.now,
                held_by=held_by,
            )
        except FailedPrecondition:
            return
        self.checkouts[checkout.id] = checkout
        self.confirm(checkout, ConfirmedPayment(f"payment-{checkout.id}", FEE, self.now))

    def outcomes(self, payment_id: str) -> list[object]:
        return [
            event
            for event in self.ours.events
            if isinstance(event, PurchaseFulfilled | PurchaseRejected)
            and event.payment_id == payment_id
        ]


def run(steps: list[tuple]) -> World:
    world = World()
    for step in steps:
        world.apply(step)
    return world


@given(st.lists(anything, max_size=25))
def test_every_confirmed_payment_ends_in_exactly_one_outcome_never_two(steps):
    world = run(steps)

    ours = [r for r in world.reservations if r.checkout_id == world.ours.id]
    assert len(ours) <= 1
    active = [r for r in world.reservations if r.is_active]
    assert len(active) <= 1
    assert world.slot.reservation_id == (active[0].id if active else None)
    for payment_id in (OURS, "payment-second"):
        confirmations = [s for s in steps if s[0] == "confirm" and s[1] == payment_id]
        assert len(world.outcomes(payment_id)) == (1 if confirmations else 0)
    fulfilled = [e for e in world.ours.events if isinstance(e, PurchaseFulfilled)]
    assert len(fulfilled) == len(ours)
    if world.ours.status is CheckoutStatus.CONFIRMED:
        assert ours and world.ours.reservation_id == ours[0].id
        assert world.slot.reservation_id == ours[0].id
    else:
        assert not ours
    if world.ours.status is CheckoutStatus.REFUNDED:
        assert world.ours.refund_reason is not None


@given(st.lists(honest_messages, max_size=25))
def test_while_nobody_else_wants_the_slot_any_order_of_messages_ends_the_same_way(steps):
    world = run(steps)

    if ("confirm", OURS, True) in steps:
        assert world.ours.status is CheckoutStatus.CONFIRMED
        assert len(world.reservations) == 1
        assert world.ours.events == [
            PurchaseFulfilled(OURS, world.ours.purchase, world.reservations[0].confirmed_at)
        ]
    else:
        assert world.ours.status in {
            CheckoutStatus.AWAITING_PAYMENT,
            CheckoutStatus.PAYMENT_FAILED,
            CheckoutStatus.EXPIRED,
        }
        assert world.reservations == []
        assert world.ours.events == []


DELIVERED = {"confirm", "fail", "expire"}


@given(st.lists(anything, max_size=20))
def test_each_message_delivered_twice_has_the_effect_of_once(steps):
    once = run(steps)
    twice = World()
    for step in steps:
        twice.apply(step)
        # Payment's news comes twice; a patient's retry or another patient's booking is a
        # request, made again only under its key, which answers it from its stored answer.
        if step[0] in DELIVERED:
            twice.apply(step)

    assert twice.ours == once.ours
    assert twice.ours.events == once.ours.events
    assert twice.slot == once.slot
    assert [r.id for r in twice.reservations] == [r.id for r in once.reservations]
    assert copy.copy(twice.reservations) == once.reservations
