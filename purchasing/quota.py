"""How many checkouts a patient may keep waiting for payment at once.

Every open checkout has a payment intent and a session at the gateway, and booking's holds
a slot for ten minutes; a fresh idempotency key is a fresh checkout. Without a cap one
patient could hold every slot of every doctor and spend the platform's gateway rate limit
for everyone. A checkout stops counting once it can no longer be paid: settled, expired,
lapsed, or failed for good.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from purchasing.checkout import Checkout, CheckoutStatus
from purchasing.errors import TooManyOpenCheckouts

DEFAULT_MAX_OPEN_CHECKOUTS = 5
# When the patient should try again if none of their open checkouts says when it lapses
# (each does; this only keeps the answer meaningful).
FALLBACK_RETRY_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class OpenCheckouts:
    """A patient's checkouts still waiting for payment: how many, and when the first of
    them lapses (None when there are none)."""

    count: int
    first_lapses_at: datetime | None = None


def waits_for_payment(checkout: Checkout, now: datetime) -> bool:
    """Whether `checkout` counts against its patient's open checkouts: a payment may still
    come for it (awaiting one, or failed in a way the patient may retry) before it lapses."""
    awaiting = checkout.status is CheckoutStatus.AWAITING_PAYMENT and not checkout.lapsed(now)
    return awaiting or checkout.retryable(now)


def open_checkouts(checkouts: Iterable[Checkout], patient_id: str, now: datetime) -> OpenCheckouts:
    """What the repositories count in SQL, over checkouts in memory."""
    waiting = [c for c in checkouts if c.patient_id == patient_id and waits_for_payment(c, now)]
    return OpenCheckouts(len(waiting), min((c.expires_at for c in waiting), default=None))


def ensure_may_open_another(
    patient_id: str, open_now: OpenCheckouts, limit: int, now: datetime
) -> None:
    """Refuse a new checkout to a patient who has `limit` open already; they may try again
    when the first of those lapses, or sooner if they pay for one."""
    if open_now.count < limit:
        return
    lapses_at = open_now.first_lapses_at
    retry_after = lapses_at - now if lapses_at is not None else FALLBACK_RETRY_AFTER
    raise TooManyOpenCheckouts(patient_id, open_now.count, limit, retry_after)
