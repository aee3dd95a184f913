"""What a purchasing context is asked to do with a checkout whatever it sells; each context
handles these with its own retry_checkout and expire_checkout."""

from __future__ import annotations

from dataclasses import dataclass

from purchasing.checkout import PaymentMethod


@dataclass(frozen=True)
class RetryCheckout:
    """Pay again after a failed attempt, by the same method or another."""

    checkout_id: str
    method: PaymentMethod | None = None
    # The patient whose checkout it must be; None for an admin.
    viewer: str | None = None


@dataclass(frozen=True)
class ExpireCheckout:
    """The sweeper's: a checkout found past its expiry (booking: its hold) ends, if it is
    still open, as if payment had said so."""

    checkout_id: str
