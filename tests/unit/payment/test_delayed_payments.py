"""Delayed payment methods (a bank debit): the gateway's session completes unpaid and the
bank settles it later. The attempt waits, then confirms or fails exactly once, whatever
order and however many times the gateway's word arrives."""

from __future__ import annotations

from datetime import timedelta
from itertools import permutations

import pytest

from services.payment.domain.attempt import AttemptStatus
from services.payment.domain.errors import AttemptStillOpen
from services.payment.domain.events import Change, PaymentFailed
from services.payment.domain.payment import PaymentStatus
from services.payment.domain.settlement import GatewayDeclined, GatewayProcessing, settle
from tests.unit.payment.builders import a_payment, event_types, open_attempt, paid

DEBIT_FAILED = GatewayDeclined("cs_1", "payment_intent_payment_attempt_failed", "not paid")


def test_a_debit_being_settled_keeps_the_attempt_waiting_and_the_payment_processing() -> None:
    payment = a_payment()
    attempt = open_attempt(payment)

    assert settle(payment, GatewayProcessing("cs_1"), payment.created_at) is Change.NONE
    assert attempt.is_pending and payment.status is PaymentStatus.PROCESSING
    assert payment.events == [] and not payment.takes_attempts(payment.created_at)


def test_an_intent_with_a_debit_being_settled_is_not_expired_within_the_grace() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, GatewayProcessing("cs_1"), payment.created_at)

    with pytest.raises(AttemptStillOpen):
        payment.expire(payment.expires_at, timedelta(minutes=15))
    assert payment.is_open


@pytest.mark.parametrize("order", list(permutations(["processing", "paid", "paid"])))
def test_a_settled_debit_confirms_once_in_any_order(order) -> None:
    payment = a_payment()
    open_attempt(payment)
    truths = {"processing": GatewayProcessing("cs_1"), "paid": paid(payment)}

    for name in order:
        settle(payment, truths[name], payment.created_at)

    assert payment.status is PaymentStatus.SUCCEEDED
    assert event_types(payment) == ["PaymentConfirmed"]


@pytest.mark.parametrize("order", list(permutations(["processing", "failed", "failed"])))
def test_a_refused_debit_fails_once_and_may_be_retried(order) -> None:
    payment = a_payment()
    attempt = open_attempt(payment)
    truths = {"processing": GatewayProcessing("cs_1"), "failed": DEBIT_FAILED}

    for name in order:
        settle(payment, truths[name], payment.created_at)

    assert attempt.status is AttemptStatus.FAILED
    assert event_types(payment) == ["PaymentFailed"]
    failed = payment.events[-1]
    assert isinstance(failed, PaymentFailed) and failed.retryable
    assert payment.takes_attempts(payment.created_at)


def test_a_debit_settled_after_the_intent_expired_is_still_honoured() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, GatewayProcessing("cs_1"), payment.created_at)
    past_grace = payment.expires_at + timedelta(minutes=15)
    payment.expire(past_grace, timedelta(minutes=15))

    settle(payment, paid(payment), past_grace)

    assert payment.status is PaymentStatus.SUCCEEDED
    assert event_types(payment) == ["PaymentExpired", "PaymentConfirmed"]


def test_a_debit_refused_after_the_intent_expired_tells_nothing_more() -> None:
    payment = a_payment()
    open_attempt(payment)
    past_grace = payment.expires_at + timedelta(minutes=15)
    payment.expire(past_grace, timedelta(minutes=15))

    settle(payment, DEBIT_FAILED, past_grace)

    assert event_types(payment) == ["PaymentExpired"]
