"""What payment's handlers need from outside, built once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from runtime.instants import Clock, utc_now
from runtime.retention import Retention
from runtime.return_urls import ReturnUrls
from services.payment.domain.gateway_calls import GatewayCallLimits
from services.payment.domain.payouts import PayoutRules
from services.payment.domain.reconciliation import ReconcileSchedule
from services.payment.handlers.gateway import Gateway
from services.payment.handlers.unit_of_work import PaymentUnit

if TYPE_CHECKING:
    from services.payment.adapters.repository import PaymentTally


@dataclass(frozen=True)
class PaymentSettings:
    # How long an intent waits to be paid when its caller does not say.
    default_ttl: timedelta = timedelta(minutes=30)
    # How long past its expiry an intent whose session the gateway has not answered for
    # waits before it is expired anyway.
    pending_grace: timedelta = timedelta(minutes=15)
    # How long a confirmed payment may go neither fulfilled nor refunded before its
    # PaymentConfirmed is published again.
    orphan_grace: timedelta = timedelta(minutes=5)
    # Where the gateway sends the browser back when the caller gave no return URL (a
    # wallet top-up's, mostly; required by bootstrap).
    default_return_url: str = ""
    # The hosts a return URL may name (runtime.return_urls).
    return_urls: ReturnUrls = field(default_factory=ReturnUrls)
    reconcile: ReconcileSchedule = field(default_factory=ReconcileSchedule)
    payouts: PayoutRules = field(default_factory=PayoutRules)
    # How often a patient's ConfirmPayment and RetryPayment may reach the gateway.
    gateway_calls: GatewayCallLimits = field(default_factory=GatewayCallLimits)
    # Whether an actionable early fraud warning refunds the payment at once: a warned
    # charge usually becomes a dispute, which costs a fee and the money anyway.
    refund_on_fraud_warning: bool = True
    # Rows a periodic job takes per run, so one run stays short.
    batch: int = 50
    # How long rows are kept past their use (runtime.purge); bootstrap's, from the runtime's.
    retention: Retention = field(default_factory=Retention)


@dataclass(frozen=True)
class Context:
    unit_of_work: Callable[[], PaymentUnit]
    gateway: Gateway
    settings: PaymentSettings = field(default_factory=PaymentSettings)
    # Injectable so tests can cross a payout hold or an expiry without waiting.
    clock: Clock = utc_now
    # Told how many payments are confirmed but unfulfilled past the grace period, each
    # time the orphan job counts them (the composition root sets a gauge).
    orphans: Callable[[int], object] = lambda count: None
    # Told the count of payments by state (jobs.count_payments; the composition root
    # sets the gauges from it).
    tallied: Callable[[PaymentTally], object] = lambda tally: None
