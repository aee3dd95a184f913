"""Payment's own metrics: whether the promise holds (orphans), the money by state, and
how the gateway and its webhooks behave (deploy/README.md, "Metrics").

Counters are incremented where the thing happens, through children bound here once.
The payments still waiting on someone are gauges, from one periodic query
(`count_payments`) that reads only them; the statuses payments end in are counters of the
moves into each, counted as each transaction commits (`count_moves`), so nothing ever
counts the whole history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from runtime.currency import CURRENCIES
from services.payment.domain.payment import WAITING_STATUSES
from services.payment.domain.purchase import PaymentMethod

if TYPE_CHECKING:
    from services.payment.adapters.repository import PaymentMove, PaymentTally

ORPHAN_PAYMENTS = Gauge(
    "nobat_orphan_payments",
    "Payments confirmed longer than the grace period ago and neither fulfilled nor refunded.",
)
PAYMENTS = Gauge(
    "nobat_payments",
    "Payments waiting on the patient, the gateway or a refund, by status and method"
    " (periodic count).",
    ["status", "method"],
)
PAYMENTS_AMOUNT = Gauge(
    "nobat_payments_amount",
    "Money asked for in the waiting payments, by status and currency, in major units.",
    ["status", "currency"],
)
PAYMENTS_ENTERED = Counter(
    "nobat_payments_entered_total",
    "Payments that entered each status, by status and method.",
    ["status", "method"],
)
PAYMENTS_ENTERED_AMOUNT = Counter(
    "nobat_payments_entered_amount_total",
    "Money asked for in the payments that entered each status, by status and currency,"
    " in major units.",
    ["status", "currency"],
)
RECONCILIATION_BACKLOG = Gauge(
    "nobat_reconciliation_backlog",
    "Payments whose check with the gateway is due now and not yet done.",
)
ATTEMPTS = Counter(
    "nobat_payment_attempts_total",
    "Attempts to pay started, by method and whether first or a retry.",
    ["method", "kind"],
)
REFUNDS = Counter("nobat_refunds_total", "Refunds requested, by reason.", ["reason"])
WEBHOOKS = Counter("nobat_webhooks_total", "Gateway webhooks received, by verdict.", ["verdict"])
GATEWAY_CALLS = Counter(
    "nobat_gateway_calls_total",
    "Calls to the payment gateway's API, by operation and outcome.",
    ["operation", "outcome"],
)
GATEWAY_CALL_DURATION = Histogram(
    "nobat_gateway_call_duration_seconds",
    "Time a call to the payment gateway's API took, SDK retries included, by operation.",
    ["operation"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# What a webhook came to: the first two passed verification, the last three did not.
WEBHOOK_VERDICTS = (
    "accepted",
    "duplicate",
    "ignored",
    "failed",
    "bad_signature",
    "stale",
    "malformed",
)
webhook_verdicts = {verdict: WEBHOOKS.labels(verdict) for verdict in WEBHOOK_VERDICTS}
first_attempts = {method: ATTEMPTS.labels(method.value, "first") for method in PaymentMethod}
retried_attempts = {method: ATTEMPTS.labels(method.value, "retry") for method in PaymentMethod}
# The (status, currency) pairs given an amount so far, set to 0 once no payment is in them.
_amounts_shown: set[tuple[str, str]] = set()


def show_tally(tally: PaymentTally) -> None:
    """Sets the gauges from one count. Every known status is set, to 0 when none is in it,
    so a state that empties falls to 0 instead of keeping its last value."""
    counts = {(s.value, m.value): 0 for s in WAITING_STATUSES for m in PaymentMethod}
    amounts: dict[tuple[str, str], float] = {}
    for row in tally.payments:
        counts[row.status, row.method] = counts.get((row.status, row.method), 0) + row.count
        major = _major(row.amount_minor, row.currency)
        amounts[row.status, row.currency] = amounts.get((row.status, row.currency), 0) + major
    for labels, count in counts.items():
        PAYMENTS.labels(*labels).set(count)
    _amounts_shown.update(amounts)
    for status, currency in _amounts_shown:
        PAYMENTS_AMOUNT.labels(status, currency).set(amounts.get((status, currency), 0))
    RECONCILIATION_BACKLOG.set(tally.due_for_check)


def count_moves(moves: list[PaymentMove]) -> None:
    """Counts the payments a committed transaction moved, each into its new status."""
    for move in moves:
        PAYMENTS_ENTERED.labels(move.status, move.method).inc()
        major = _major(move.amount_minor, move.currency)
        PAYMENTS_ENTERED_AMOUNT.labels(move.status, move.currency).inc(major)


def _major(amount_minor: int, currency: str) -> float:
    return amount_minor / CURRENCIES[currency].minor_per_major
