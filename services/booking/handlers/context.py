"""What booking's handlers need from outside, built once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from clients.payment import PaymentClient
from purchasing.quota import DEFAULT_MAX_OPEN_CHECKOUTS
from runtime.instants import Clock, utc_now
from runtime.retention import Retention
from runtime.return_urls import ReturnUrls
from services.booking.domain.cancellation import DEFAULT_NOTICE_POLICY, NoticePolicy
from services.booking.domain.checkout import DEFAULT_HOLD_TTL
from services.booking.handlers.unit_of_work import BookingUnit


@dataclass(frozen=True)
class BookingSettings:
    hold_ttl: timedelta = DEFAULT_HOLD_TTL
    notice_policy: NoticePolicy = DEFAULT_NOTICE_POLICY
    # How many checkouts (each holding a slot) a patient may keep waiting for payment.
    max_open_checkouts: int = DEFAULT_MAX_OPEN_CHECKOUTS
    # Where the gateway sends the browser back when the app gave no return URL (required
    # by bootstrap; a placeholder would send real patients nowhere).
    default_return_url: str = ""
    # The hosts a return URL may name (runtime.return_urls).
    return_urls: ReturnUrls = field(default_factory=ReturnUrls)
    # Rows the expiry sweeper takes per run.
    batch: int = 100
    # A checkout is stored, or not, within this long of payment creating its intent (the
    # payment call's deadline, with room to spare); a payment event about a checkout still
    # missing after it concerns one whose transaction rolled back, and is answered so.
    unknown_checkout_after: timedelta = timedelta(seconds=60)
    # How long rows are kept past their use (runtime.purge); bootstrap's, from the runtime's.
    retention: Retention = field(default_factory=Retention)


@dataclass(frozen=True)
class Context:
    unit_of_work: Callable[[], BookingUnit]
    payments: PaymentClient
    settings: BookingSettings = field(default_factory=BookingSettings)
    clock: Clock = utc_now
