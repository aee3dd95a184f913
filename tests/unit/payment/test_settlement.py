from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.money import Money
from services.payment.domain.attempt import AttemptStatus
from services.payment.domain.errors import CaptureContradictsRecord
from services.payment.domain.events import (
    CaptureRejected,
    Change,
    PaymentConfirmed,
    PaymentFailed,
    RefundStarted,
)
from services.payment.domain.payment import PaymentStatus
from services.payment.domain.purchase import PaymentMethod
from services.payment.domain.refund import RefundStatus
from services.payment.domain.settlement import (
    GatewayCanceled,
    GatewayDeclined,
    GatewayExpired,
    GatewayOpen,
    GatewayPaid,
    GatewayRefunded,
    settle,
    settle_refund,
)
from tests.unit.payment.builders import T0, a_payment, event_types, open_attempt, paid, usd

LATER = T0 + timedelta(minutes=3)


def test_a_paid_session_confirms_the_payment_once() -> None:
    payment = a_payment()
    attempt = open_attempt(payment, "cs_1")
    assert settle(payment, paid(payment, "cs_1"), LATER) is Change.APPLIED
    assert payment.status is PaymentStatus.SUCCEEDED
    assert (payment.captured, payment.confirmed_at) == (usd(10_000), LATER)
    assert attempt.status is AttemptStatus.SUCCEEDED
    confirmed = payment.events[-1]
    assert isinstance(confirmed, PaymentConfirmed)
    assert (confirmed.attempt_id, confirmed.gateway_ref, confirmed.amount) == (
        attempt.id,
        "cs_1",
        usd(10_000),
    )
    assert confirmed.lines == payment.lines and confirmed.method is PaymentMethod.GATEWAY


def test_a_duplicate_paid_signal_is_no_change_and_publishes_nothing() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, paid(payment), LATER)
    for _ in range(50):
        assert settle(payment, paid(payment), LATER) is Change.NONE
    assert event_types(payment) == ["PaymentConfirmed"]


def test_an_open_session_changes_nothing() -> None:
    payment = a_payment()
    open_attempt(payment)
    assert settle(payment, GatewayOpen("cs_1"), LATER) is Change.NONE
    assert payment.status is PaymentStatus.PROCESSING


def test_a_declined_attempt_returns_the_payment_to_requires_payment_keeping_the_failure() -> None:
    payment = a_payment()
    attempt = open_attempt(payment)
    settle(payment, GatewayDeclined("cs_1", "card_declined", "Your card was declined."), LATER)
    assert payment.status is PaymentStatus.REQUIRES_PAYMENT
    assert attempt.status is AttemptStatus.FAILED
    assert attempt.failure is not None and attempt.failure.code == "card_declined"
    failed = payment.events[-1]
    assert isinstance(failed, PaymentFailed)
    assert failed.retryable and failed.attempt_id == attempt.id


@pytest.mark.parametrize(
    ("truth", "status", "code"),
    [
        (GatewayCanceled("cs_1"), AttemptStatus.CANCELED, "canceled"),
        (GatewayExpired("cs_1"), AttemptStatus.EXPIRED, "expired"),
    ],
)
def test_a_cancelled_or_expired_session_leaves_the_intent_open_for_a_retry(
    truth, status, code
) -> None:
    payment = a_payment()
    attempt = open_attempt(payment)
    settle(payment, truth, LATER)
    assert attempt.status is status and attempt.failure is not None
    assert attempt.failure.code == code
    assert payment.status is PaymentStatus.REQUIRES_PAYMENT and payment.takes_attempts(LATER)


def test_a_failure_reported_after_the_intent_expired_is_not_retryable() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, GatewayDeclined("cs_1", "card_declined"), payment.expires_at)
    failed = payment.events[-1]
    assert isinstance(failed, PaymentFailed) and not failed.retryable


def test_a_late_failure_never_undoes_a_success() -> None:
    payment = a_payment()
    attempt = open_attempt(payment)
    settle(payment, paid(payment), LATER)
    for truth in (GatewayDeclined("cs_1", "card_declined"), GatewayCanceled("cs_1")):
        assert settle(payment, truth, LATER) is Change.NONE
    settle(payment, GatewayExpired("cs_1"), LATER)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert attempt.status is AttemptStatus.SUCCEEDED and attempt.failure is None
    assert event_types(payment) == ["PaymentConfirmed"]


def test_a_session_declined_then_paid_on_the_same_page_is_a_success() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, GatewayDeclined("cs_1", "card_declined"), LATER)
    settle(payment, paid(payment), LATER)
    assert payment.status is PaymentStatus.SUCCEEDED


def test_a_failure_of_an_older_attempt_tells_nobody_while_a_newer_one_is_open() -> None:
    payment = a_payment()
    open_attempt(payment, "cs_1")
    settle(payment, GatewayDeclined("cs_1", "card_declined"), LATER)
    open_attempt(payment, "cs_2", LATER)
    events_before = len(payment.events)
    assert settle(payment, GatewayCanceled("cs_1"), LATER) is Change.APPLIED
    assert len(payment.events) == events_before
    assert payment.status is PaymentStatus.PROCESSING


def test_a_failure_after_another_attempt_succeeded_is_recorded_but_never_told() -> None:
    payment = a_payment()
    open_attempt(payment, "cs_1")
    settle(payment, GatewayCanceled("cs_1"), LATER)
    open_attempt(payment, "cs_2", LATER)
    settle(payment, paid(payment, "cs_2"), LATER)
    settle(payment, GatewayDeclined("cs_1", "card_declined"), LATER)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert event_types(payment).count("PaymentFailed") == 1


def test_a_success_that_arrives_after_expiry_is_still_honoured() -> None:
    payment = a_payment()
    open_attempt(payment)
    payment.expire(payment.expires_at + timedelta(hours=1))
    assert payment.status is PaymentStatus.EXPIRED
    settle(payment, paid(payment), payment.expires_at + timedelta(hours=2))
    assert payment.status is PaymentStatus.SUCCEEDED
    assert event_types(payment) == ["PaymentExpired", "PaymentConfirmed"]


def test_a_success_that_arrives_after_cancellation_is_still_honoured() -> None:
    payment = a_payment()
    open_attempt(payment)
    payment.cancel(LATER)
    settle(payment, paid(payment), LATER)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert isinstance(payment.events[-1], PaymentConfirmed)


@pytest.mark.parametrize("captured", [usd(9_000), usd(11_000), Money(10_000, "EUR")])
def test_a_capture_for_another_amount_or_currency_never_confirms_and_is_refunded(
    captured: Money,
) -> None:
    payment = a_payment()
    attempt = open_attempt(payment)
    settle(payment, GatewayPaid("cs_1", captured), LATER)
    assert not payment.is_confirmed and payment.captured is None
    assert payment.status is PaymentStatus.REFUND_PENDING
    assert attempt.status is AttemptStatus.FAILED and attempt.captured == captured
    assert attempt.failure is not None and attempt.failure.code == "amount_mismatch"
    assert event_types(payment) == ["CaptureRejected", "PaymentFailed", "RefundStarted"]
    failed, started = payment.events[1], payment.events[2]
    assert isinstance(failed, PaymentFailed) and not failed.retryable
    assert isinstance(started, RefundStarted) and started.amount == captured
    [refund] = payment.refunds
    assert (refund.amount, refund.reason, refund.key) == (
        captured,
        "amount_mismatch",
        f"capture:{attempt.id}",
    )


def test_a_wrong_amount_capture_closes_the_intent_until_its_refund_lands() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, GatewayPaid("cs_1", usd(1)), LATER)
    assert not payment.takes_attempts(LATER)
    settle_refund(payment, GatewayRefunded(payment.refunds[0].id, "re_1"), LATER)
    assert payment.status is PaymentStatus.REFUNDED
    assert payment.refunds[0].status is RefundStatus.SUCCEEDED
    assert event_types(payment)[-1] == "CaptureRefunded"


def test_a_right_capture_after_a_wrong_one_still_confirms() -> None:
    payment = a_payment()
    open_attempt(payment, "cs_1")
    settle(payment, GatewayCanceled("cs_1"), LATER)
    open_attempt(payment, "cs_2", LATER)
    settle(payment, GatewayPaid("cs_2", usd(1)), LATER)
    settle(payment, paid(payment, "cs_1"), LATER)
    assert payment.is_confirmed and payment.status is PaymentStatus.REFUND_PENDING
    settle_refund(payment, GatewayRefunded(payment.refunds[0].id), LATER)
    assert payment.status is PaymentStatus.SUCCEEDED and payment.refunded.is_zero


def test_a_second_capture_of_a_paid_intent_is_refunded_in_full() -> None:
    payment = a_payment()
    open_attempt(payment, "cs_1")
    settle(payment, GatewayCanceled("cs_1"), LATER)
    second = open_attempt(payment, "cs_2", LATER)
    settle(payment, paid(payment, "cs_2"), LATER)
    settle(payment, paid(payment, "cs_1"), LATER)
    assert payment.confirmed_attempt_id == second.id
    rejected = next(e for e in payment.events if isinstance(e, CaptureRejected))
    assert rejected.reason == "duplicate_capture"
    assert event_types(payment).count("PaymentConfirmed") == 1
    assert payment.status is PaymentStatus.REFUND_PENDING


def test_the_gateway_contradicting_a_recorded_capture_needs_an_operator() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, paid(payment), LATER)
    with pytest.raises(CaptureContradictsRecord):
        settle(payment, GatewayPaid("cs_1", usd(5)), LATER)
