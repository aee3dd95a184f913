"""What a patient is told when a checkout's payment cannot go on."""

from __future__ import annotations

from datetime import datetime, timedelta

from runtime.errors import FailedPrecondition, NotFound, ResourceExhausted


class CheckoutNotFound(NotFound):
    """No such checkout, or not the caller's."""

    def __init__(self, checkout_id: str) -> None:
        super().__init__(f"no checkout {checkout_id}", checkout_id=checkout_id)


class CheckoutExpired(FailedPrecondition):
    def __init__(self, checkout_id: str, expired_at: datetime) -> None:
        super().__init__(
            f"checkout {checkout_id} expired at {expired_at.isoformat()}; start a new one",
            checkout_id=checkout_id,
            expires_at=expired_at.isoformat(),
        )


class CheckoutNotRetryable(FailedPrecondition):
    """Only a checkout whose last attempt failed, on a still-open payment, can be retried."""

    def __init__(self, checkout_id: str, status: str, why: str) -> None:
        super().__init__(
            f"checkout {checkout_id} cannot be retried: {why}",
            checkout_id=checkout_id,
            status=status,
        )


class TooManyOpenCheckouts(ResourceExhausted):
    """A patient may keep only so many checkouts waiting for payment (purchasing.quota)."""

    def __init__(self, patient_id: str, count: int, limit: int, retry_after: timedelta) -> None:
        super().__init__(
            f"patient has {count} open checkouts, the most allowed is {limit}; finish or let"
            " one expire",
            subject=f"patient:{patient_id}",
            limit=limit,
            retry_after=retry_after,
            open_checkouts=count,
        )
