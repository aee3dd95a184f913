"""What a patient is told when a checkout's payment cannot go on."""

from __future__ import annotations

from datetime import datetime

from runtime.errors import FailedPrecondition, NotFound


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
