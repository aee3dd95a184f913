"""The sandbox's objects, each rendered as the JSON Stripe gives for it."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

_ID_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ID_ALPHABET) for _ in range(24))}"


# Seconds the sandbox's clock runs ahead of (or behind) the real one: the tests' moved
# clock (runtime.instants.CLOCK_SHIFT_SETTING), so sessions live on the services' time.
_clock_shift = 0.0


def set_clock_shift(seconds: float) -> None:
    global _clock_shift
    _clock_shift = seconds


def exact_now() -> float:
    return time.time() + _clock_shift


def now() -> int:
    return int(exact_now())


@dataclass
class PaymentIntent:
    id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    created: int
    status: str = "requires_payment_method"
    amount_received: int = 0
    last_payment_error: dict[str, str] | None = None
    cancellation_reason: str | None = None
    canceled_at: int | None = None
    latest_charge: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": self.amount_received,
            "currency": self.currency,
            "status": self.status,
            "last_payment_error": self.last_payment_error,
            "cancellation_reason": self.cancellation_reason,
            "canceled_at": self.canceled_at,
            "latest_charge": self.latest_charge,
            "metadata": dict(self.metadata),
            "created": self.created,
            "livemode": False,
        }


@dataclass(frozen=True)
class LineItem:
    name: str
    unit_amount: int
    quantity: int


@dataclass
class CheckoutSession:
    id: str
    intent: PaymentIntent
    line_items: list[LineItem]
    url: str
    success_url: str | None
    cancel_url: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    expires_at: int
    created: int
    status: str = "open"
    payment_status: str = "unpaid"
    # How many times money was taken on this session; anything but 0 or 1 is a bug.
    charges: int = 0
    refunds: list[str] = field(default_factory=list)

    @property
    def amount_total(self) -> int:
        return sum(item.unit_amount * item.quantity for item in self.line_items)

    @property
    def description(self) -> str:
        return ", ".join(item.name for item in self.line_items)

    def to_json(self, expand_intent: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "checkout.session",
            "mode": "payment",
            "url": self.url,
            "status": self.status,
            "payment_status": self.payment_status,
            "amount_subtotal": self.amount_total,
            "amount_total": self.amount_total,
            "currency": self.intent.currency,
            "client_reference_id": self.client_reference_id,
            "metadata": dict(self.metadata),
            "payment_intent": self.intent.to_json() if expand_intent else self.intent.id,
            "expires_at": self.expires_at,
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
            "created": self.created,
            "livemode": False,
        }


@dataclass
class Refund:
    id: str
    amount: int
    currency: str
    payment_intent: str
    charge: str
    metadata: dict[str, str]
    reason: str | None
    created: int
    # The session the refunded payment was taken on: its webhooks are grouped with it.
    session_id: str
    status: str = "pending"
    failure_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "payment_intent": self.payment_intent,
            "charge": self.charge,
            "metadata": dict(self.metadata),
            "reason": self.reason,
            "created": self.created,
        }
