"""Delivery rules: a try is counted when claimed, failures wait twice as long each time up
to a ceiling, and a delivery that keeps failing (or can never work) is dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.domain.contact import Channel
from services.notification.domain.delivery import (
    Delivery,
    DeliveryFailed,
    DeliveryNotDue,
    DeliveryStatus,
    RetryRules,
)

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
RULES = RetryRules(
    max_attempts=4,
    first_retry=timedelta(seconds=30),
    longest_retry=timedelta(minutes=2),
    lease=timedelta(seconds=25),
)


def delivery() -> Delivery:
    return Delivery.create("d-1", "n-1", Channel.EMAIL, "a@example.com", NOW)


def test_backoff_doubles_from_the_first_retry_up_to_the_longest():
    waits = [RULES.backoff(attempt) for attempt in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (30, 60, 120, 120, 120)]
    assert RULES.backoff(10_000) == timedelta(minutes=2)


def test_a_new_delivery_is_due_at_once():
    fresh = delivery()
    assert fresh.status is DeliveryStatus.PENDING and fresh.is_due(NOW)


def test_a_claim_counts_the_try_and_leases_the_delivery():
    claimed = delivery()
    claimed.claim(NOW, RULES)
    assert claimed.attempts == 1
    assert claimed.next_attempt_at == NOW + RULES.lease
    assert not claimed.is_due(NOW + timedelta(seconds=24))
    assert claimed.is_due(NOW + RULES.lease)  # a sender that died is replaced


def test_a_delivery_that_is_not_due_cannot_be_claimed():
    claimed = delivery()
    claimed.claim(NOW, RULES)
    with pytest.raises(DeliveryNotDue):
        claimed.claim(NOW, RULES)
    claimed.succeeded(NOW)
    with pytest.raises(DeliveryNotDue):
        claimed.claim(NOW + timedelta(days=1), RULES)


def test_a_success_ends_it():
    sent = delivery()
    sent.claim(NOW, RULES)
    sent.succeeded(NOW + timedelta(seconds=1))
    assert sent.status is DeliveryStatus.DELIVERED
    assert sent.delivered_at == NOW + timedelta(seconds=1)
    assert sent.next_attempt_at is None and not sent.is_open


def test_failures_are_retried_with_backoff_then_dead_lettered():
    failing = delivery()
    now = NOW
    for attempt in range(1, 4):
        failing.claim(now, RULES)
        failing.failed(DeliveryFailed("451 busy"), now, RULES)
        assert failing.status is DeliveryStatus.RETRYING
        assert failing.next_attempt_at == now + RULES.backoff(attempt)
        assert failing.last_error == "451 busy"
        now = failing.next_attempt_at
    failing.claim(now, RULES)
    failing.failed(DeliveryFailed("451 still busy"), now, RULES)
    assert failing.status is DeliveryStatus.DEAD_LETTERED
    assert failing.attempts == 4 and failing.next_attempt_at is None
    assert failing.last_error == "451 still busy"


def test_a_permanent_failure_is_dead_lettered_at_once():
    refused = delivery()
    refused.claim(NOW, RULES)
    refused.failed(DeliveryFailed("550 no such mailbox", permanent=True), NOW, RULES)
    assert refused.status is DeliveryStatus.DEAD_LETTERED and refused.attempts == 1


def test_a_long_error_is_cut():
    failing = delivery()
    failing.claim(NOW, RULES)
    failing.failed(DeliveryFailed("x" * 5000), NOW, RULES)
    assert len(failing.last_error) == 500


@pytest.mark.parametrize(
    "rules",
    [
        {"max_attempts": 0},
        {"first_retry": timedelta(0)},
        {"first_retry": timedelta(minutes=5), "longest_retry": timedelta(minutes=1)},
        {"lease": timedelta(0)},
    ],
)
def test_retry_rules_that_cannot_work_are_refused(rules):
    with pytest.raises(ValueError):
        RetryRules(**rules)
