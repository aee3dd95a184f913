"""Whatever order the gateway's reports arrive in, and however often, a payment ends in
the same place: the property behind "every input is idempotent"."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import FailedPrecondition, NotFound
from runtime.money import Money
from services.payment.domain.events import PaymentConfirmed
from services.payment.domain.ids import derived_id
from services.payment.domain.payment import CAPTURED_STATUSES, Payment
from services.payment.domain.settlement import (
    GatewayCanceled,
    GatewayDeclined,
    GatewayExpired,
    GatewayOpen,
    GatewayPaid,
    GatewayProcessing,
    GatewayRefunded,
    GatewayRefundFailed,
    settle,
    settle_refund,
)
from tests.unit.payment.builders import T0, a_payment, open_attempt, usd

AMOUNT = usd(10_000)
AFTER_EXPIRY = T0 + timedelta(days=1)


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Expire:
    pass


failures = st.sampled_from(
    [
        GatewayDeclined("", "card_declined", "Your card was declined."),
        GatewayDeclined("", "insufficient_funds", "Not enough money."),
        # A failed 3-D Secure challenge, and a bank debit the bank refused.
        GatewayDeclined("", "payment_intent_authentication_failure", "Not authenticated."),
        GatewayDeclined("", "payment_intent_payment_attempt_failed", "Not paid."),
        GatewayCanceled(""),
        GatewayExpired(""),
    ]
)
captures = st.sampled_from([AMOUNT, usd(9_999), Money(10_000, "EUR")])


@st.composite
def session_stories(draw, must_fail: bool, refund_outcome: str) -> list:
    """What one checkout session's reports can be: failures and opens in any number, at
    most one capture (a session charges once), and a failure first when the patient went
    on to a retry. A capture may be refunded; whether it is depends on which capture came
    first, so the gateway's answer to any such refund is drawn once for the scenario."""
    story = [draw(failures)] if must_fail else []
    # Undecided: the page still open, or a bank debit still being settled.
    undecided = st.sampled_from([GatewayOpen(""), GatewayProcessing("")])
    story += draw(st.lists(st.one_of(failures, undecided), max_size=3))
    capture = draw(st.none() | captures)
    if capture is not None:
        story += [GatewayPaid("", capture), ("refund", refund_outcome)]
    return story


@st.composite
def scenarios(draw):
    sessions = draw(st.integers(1, 3))
    refund_outcome = draw(st.sampled_from(["refunded", "failed", "unanswered"]))
    stories = [draw(session_stories(i < sessions - 1, refund_outcome)) for i in range(sessions)]
    command = draw(st.sampled_from([None, Cancel(), Expire()]))
    return stories, command


def with_ref(report, payment: Payment, i: int):
    ref = f"cs_{i}"
    match report:
        case GatewayPaid(amount=amount):
            return GatewayPaid(ref, amount)
        case GatewayDeclined(code=code, message=message):
            return GatewayDeclined(ref, code, message)
        case ("refund", outcome):
            # The refund of a capture that cannot confirm, or of a second capture, is keyed
            # by its attempt; a report about one that does not exist yet is redelivered.
            refund_id = derived_id(payment.id, "refund", f"capture:{payment.attempts[i].id}")
            if outcome == "refunded":
                return GatewayRefunded(refund_id, f"re_{i}")
            if outcome == "failed":
                return GatewayRefundFailed(refund_id, "charge_disputed", gateway_ref=f"re_{i}")
            return None
        case _:
            return type(report)(ref)


def payment_with_sessions(stories: list[list]) -> Payment:
    """A payment with one attempt per story; each attempt before the last failed first,
    which is what let the patient retry."""
    payment = a_payment(AMOUNT)
    for i, story in enumerate(stories):
        open_attempt(payment, f"cs_{i}", T0)
        if i < len(stories) - 1:
            settle(payment, with_ref(story[0], payment, i), T0)
    return payment


def deliver(payment: Payment, reports: list) -> None:
    """Delivers reports as the handler would: a report about a refund the payment does not
    have (yet) is not found, so it is redelivered later, until nothing else is left to
    deliver; a command refused by the payment's state was simply refused."""
    queue = deque(reports)
    captured_once = False
    unfound_in_a_row = 0
    while queue and unfound_in_a_row <= len(queue):
        report = queue.popleft()
        try:
            match report:
                case Cancel():
                    payment.cancel(AFTER_EXPIRY)
                case Expire():
                    payment.expire(AFTER_EXPIRY)
                case GatewayRefunded() | GatewayRefundFailed():
                    settle_refund(payment, report, AFTER_EXPIRY)
                case _:
                    settle(payment, report, AFTER_EXPIRY)
            unfound_in_a_row = 0
        except NotFound:
            unfound_in_a_row += 1
            queue.append(report)
        except FailedPrecondition:
            unfound_in_a_row = 0
        # Moves are monotonic: money captured never turns back into "requires payment".
        captured_once = captured_once or payment.status in CAPTURED_STATUSES
        assert not captured_once or payment.status in CAPTURED_STATUSES


def outcome(payment: Payment) -> tuple:
    """What must not depend on the order: the status, what each attempt came to (which of
    two good captures confirms depends on which came first, so attempts are compared as
    a set), what was captured and refunded, and one confirmation at most."""
    attempts = sorted(
        repr((a.status, a.captured, a.failure and a.failure.code)) for a in payment.attempts
    )
    refunds = sorted(repr((r.amount, r.status, r.reason)) for r in payment.refunds)
    confirmations = sum(isinstance(e, PaymentConfirmed) for e in payment.events)
    return payment.status, attempts, payment.captured, payment.refunded, refunds, confirmations


def all_reports(stories: list[list], payment: Payment, command) -> list:
    reports = [with_ref(report, payment, i) for i, story in enumerate(stories) for report in story]
    return [r for r in reports if r is not None] + ([command] if command else [])


@settings(max_examples=100, deadline=None)
@given(scenario=scenarios(), data=st.data())
def test_any_order_and_any_duplicates_of_gateway_reports_give_the_same_final_state(
    scenario, data
) -> None:
    stories, command = scenario
    in_order = payment_with_sessions(stories)
    deliver(in_order, all_reports(stories, in_order, command))

    shuffled = payment_with_sessions(stories)
    reports = all_reports(stories, shuffled, command)
    duplicates = data.draw(st.lists(st.sampled_from(reports), max_size=8)) if reports else []
    deliver(shuffled, data.draw(st.permutations(reports + duplicates)))

    assert outcome(shuffled) == outcome(in_order)
    assert outcome(in_order)[-1] == (1 if in_order.is_confirmed else 0)


@settings(max_examples=50, deadline=None)
@given(scenario=scenarios(), data=st.data())
def test_reports_delivered_again_after_settling_change_nothing(scenario, data) -> None:
    stories, command = scenario
    payment = payment_with_sessions(stories)
    reports = all_reports(stories, payment, command)
    deliver(payment, reports)
    settled, events = outcome(payment), len(payment.events)
    deliver(payment, data.draw(st.permutations(reports)))
    assert (outcome(payment), len(payment.events)) == (settled, events)
