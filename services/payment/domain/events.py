"""The facts payment's entities record, in the order they happened.

An entity appends these to its `events` list as it changes; the handler writes them to
the outbox in the same commit as the entity, turning the first six into the protos of
nobat.payment.v1 of the same names. The others are payment's own business: a refund to
send to the gateway, a capture that could not pay its intent, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TypeAlias

from runtime.money import Money
from services.payment.domain.attempt import Failure
from services.payment.domain.purchase import PayeeLine, PaymentMethod, Purchase
from services.payment.domain.refund import RefundDestination


class Change(Enum):
    """What a report or command did. Reports are hints that come again and again, so
    "nothing new" is an answer, not an error: the handler stores and publishes nothing."""

    NONE = "none"
    APPLIED = "applied"


@dataclass(frozen=True)
class PaymentConfirmed:
    payment_id: str
    purchase: Purchase
    patient_id: str
    amount: Money
    method: PaymentMethod
    lines: tuple[PayeeLine, ...]
    attempt_id: str
    # Empty for wallet payments.
    gateway_ref: str
    confirmed_at: datetime


@dataclass(frozen=True)
class PaymentFailed:
    """An attempt failed, or the intent was cancelled; open again while `retryable`."""

    payment_id: str
    purchase: Purchase
    patient_id: str
    # Empty when the intent was cancelled before any attempt.
    attempt_id: str
    method: PaymentMethod
    failure: Failure
    retryable: bool
    failed_at: datetime


@dataclass(frozen=True)
class PaymentExpired:
    payment_id: str
    purchase: Purchase
    patient_id: str
    expired_at: datetime


@dataclass(frozen=True)
class PaymentRefunded:
    """A refund of the confirmed capture succeeded."""

    payment_id: str
    purchase: Purchase
    patient_id: str
    refund_id: str
    amount: Money
    # All succeeded refunds of the payment so far, this one included.
    refunded_total: Money
    full: bool
    reason: str
    destination: RefundDestination
    refunded_at: datetime


@dataclass(frozen=True)
class PurchaseVoided:
    """Payment gave the purchase's money back on its own initiative (a fraud warning), not
    at the purchasing context's request: that context releases what it bought."""

    payment_id: str
    purchase: Purchase
    patient_id: str
    reason: str
    voided_at: datetime


@dataclass(frozen=True)
class PayoutReleased:
    payout_id: str
    doctor_id: str
    payment_id: str
    gross: Money
    net: Money
    released_at: datetime


@dataclass(frozen=True)
class RefundStarted:
    """A refund waits for the gateway: the handler sends it, with `refund_id` as the
    gateway's idempotency key, and settles the answer with `settle_refund`."""

    payment_id: str
    refund_id: str
    # The gateway session whose charge is refunded.
    gateway_ref: str
    amount: Money
    reason: str
    started_at: datetime


@dataclass(frozen=True)
class RefundFailed:
    """The gateway refused a refund; its amount can be refunded again under a new key."""

    payment_id: str
    refund_id: str
    amount: Money
    failure: Failure
    failed_at: datetime


@dataclass(frozen=True)
class CaptureRejected:
    """The gateway took money that cannot pay the intent: another amount or currency than
    the intent's (`amount_mismatch`), or a second capture of an intent already paid
    (`duplicate_capture`). It is refunded in full; nothing is confirmed by it."""

    payment_id: str
    purchase: Purchase
    patient_id: str
    attempt_id: str
    gateway_ref: str
    captured: Money
    expected: Money
    reason: str
    rejected_at: datetime


@dataclass(frozen=True)
class CaptureRefunded:
    """The refund of a rejected capture succeeded: the patient has that money back."""

    payment_id: str
    purchase: Purchase
    patient_id: str
    refund_id: str
    attempt_id: str
    amount: Money
    reason: str
    refunded_at: datetime


PaymentEvent: TypeAlias = (
    PaymentConfirmed
    | PaymentFailed
    | PaymentExpired
    | PaymentRefunded
    | PurchaseVoided
    | RefundStarted
    | RefundFailed
    | CaptureRejected
    | CaptureRefunded
)
