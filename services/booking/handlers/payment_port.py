"""The port to the payment context: booking asks it to charge a checkout and to try
again, at the price booking sets. What happened to the money then comes back as events
(PaymentConfirmed, PaymentFailed, PaymentExpired), never as this port's answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.booking.domain.checkout import PaymentFailure, PaymentMethod
from services.booking.domain.money import Money


@dataclass(frozen=True)
class PaymentOrder:
    # The purchase's ref at payment, and the idempotency key of its creation.
    checkout_id: str
    patient_id: str
    doctor_id: str
    price: Money
    method: PaymentMethod
    return_url: str
    description: str
    # Aligned with the slot's hold: payment expires the intent when the hold ends.
    expires_at: datetime


@dataclass(frozen=True)
class OpenedAttempt:
    payment_id: str
    attempt_id: str | None = None
    # The gateway's page; None for wallet payments.
    checkout_url: str | None = None
    # Set when the attempt failed at once, such as a wallet too short to pay.
    failure: PaymentFailure | None = None


class PaymentPort(Protocol):
    async def open(self, order: PaymentOrder) -> OpenedAttempt: ...

    async def retry(
        self, payment_id: str, key: str, method: PaymentMethod, return_url: str
    ) -> OpenedAttempt: ...
