"""When payment asks the gateway again about something it has not heard back on.

Webhooks get lost and browsers never come back, so every gateway session and refund that
is still undecided is asked about on a schedule: soon after it started (most are decided
within a minute), then every few minutes for the first hour, then hourly until the
gateway answers. Asking is cheap and idempotent; the schedule only bounds the load.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.payment.domain.payment import Payment
from services.payment.domain.purchase import PaymentMethod
from services.payment.domain.refund import RefundStatus


@dataclass(frozen=True)
class ReconcileSchedule:
    first: timedelta = timedelta(minutes=1)
    then_every: timedelta = timedelta(minutes=5)
    # After this long undecided, ask only every `slow_every`.
    slow_after: timedelta = timedelta(hours=1)
    slow_every: timedelta = timedelta(hours=1)

    def next_check(self, since: datetime, now: datetime) -> datetime:
        """The next time to ask about something undecided since `since`."""
        if now < since + self.first:
            return since + self.first
        if now < since + self.slow_after:
            return now + self.then_every
        return now + self.slow_every


def undecided_since(payment: Payment) -> datetime | None:
    """When the oldest thing the gateway has not decided on for this payment started: an
    open gateway session, or a gateway refund still pending. None when nothing is."""
    started: Iterable[datetime] = [
        *(
            a.created_at
            for a in payment.attempts
            if a.is_pending and a.method is PaymentMethod.GATEWAY
        ),
        *(
            r.created_at
            for r in payment.refunds
            if r.via_gateway and r.status is RefundStatus.PENDING
        ),
    ]
    return min(started, default=None)


def next_check_at(payment: Payment, schedule: ReconcileSchedule, now: datetime) -> datetime | None:
    since = undecided_since(payment)
    return None if since is None else schedule.next_check(since, now)
