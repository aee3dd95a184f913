"""How often a patient's calls about one payment may make nobat call the gateway.

The gateway limits the platform's calls for everyone, and each ConfirmPayment reads a
checkout session there, each RetryPayment opens a new one. A client calling either in a
loop must not spend that limit, so per payment:

- ConfirmPayment reads the gateway at most once every `check_every`; in between it answers
  with the payment as stored, which webhooks and reconciliation keep moving on their own;
- at most `attempts` attempts start in any `window`; one more is refused with when the
  oldest of them leaves the window.

What a rule needs is stored with the payment, so it holds across replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.payment.domain.errors import TooManyPaymentAttempts
from services.payment.domain.payment import Payment


@dataclass(frozen=True)
class GatewayCallLimits:
    check_every: timedelta = timedelta(seconds=5)
    # The first attempt (CreatePayment's) counts: five is the first and four retries.
    attempts: int = 5
    window: timedelta = timedelta(minutes=10)

    def check_due(self, last_checked_at: datetime | None, now: datetime) -> bool:
        """Whether ConfirmPayment may read the gateway again, last having done so then."""
        return last_checked_at is None or now - last_checked_at >= self.check_every

    def ensure_may_attempt(self, payment: Payment, now: datetime) -> None:
        """Refuse another attempt on a payment that had `attempts` within the window."""
        recent = sorted(a.created_at for a in payment.attempts if now - a.created_at < self.window)
        if len(recent) < self.attempts:
            return
        # Once this one is out of the window, one fewer than the limit is left in it.
        leaves_at = recent[len(recent) - self.attempts] + self.window
        raise TooManyPaymentAttempts(
            payment.id, len(recent), self.attempts, self.window, leaves_at - now
        )
