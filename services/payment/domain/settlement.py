"""Settling: moving a payment forward by what the gateway says is true.

Webhooks, the browser's return and the reconciliation job are only hints; each makes the
handler read the truth of one checkout session (or refund) from the gateway and pass it to
`settle` (or `settle_refund`). These take the truth as it is, in any order and as often as
it comes, and answer Change.NONE when it tells nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from runtime.money import Money
from services.payment.domain import attempt as attempts
from services.payment.domain.attempt import Attempt, AttemptStatus, Failure
from services.payment.domain.errors import CaptureContradictsRecord
from services.payment.domain.events import CaptureRejected, Change, PaymentFailed
from services.payment.domain.payment import Payment
from services.payment.domain.refunding import (
    record_refund_failure,
    record_refund_success,
    refund_rejected_capture,
)


@dataclass(frozen=True)
class GatewayPaid:
    """The session's payment was captured: `amount` is what the gateway took."""

    gateway_ref: str
    amount: Money


@dataclass(frozen=True)
class GatewayDeclined:
    gateway_ref: str
    code: str
    message: str = ""


@dataclass(frozen=True)
class GatewayCanceled:
    """The patient left the gateway's page."""

    gateway_ref: str


@dataclass(frozen=True)
class GatewayExpired:
    gateway_ref: str


@dataclass(frozen=True)
class GatewayOpen:
    """Nothing decided yet: the patient is still on the page, or the gateway is slow."""

    gateway_ref: str


@dataclass(frozen=True)
class GatewayProcessing:
    """The patient paid by a delayed method (a bank debit): the session takes nothing
    else and can no longer be expired, and the money is on its way, or not, until the
    bank settles it. The attempt stays pending meanwhile, waiting for the bank's word."""

    gateway_ref: str


GatewayTruth: TypeAlias = (
    GatewayPaid
    | GatewayDeclined
    | GatewayCanceled
    | GatewayExpired
    | GatewayOpen
    | GatewayProcessing
)


@dataclass(frozen=True)
class GatewayRefunded:
    refund_id: str
    gateway_ref: str = ""


@dataclass(frozen=True)
class GatewayRefundFailed:
    refund_id: str
    code: str
    message: str = ""
    gateway_ref: str = ""


@dataclass(frozen=True)
class GatewayRefundPending:
    refund_id: str
    gateway_ref: str = ""


GatewayRefundTruth: TypeAlias = GatewayRefunded | GatewayRefundFailed | GatewayRefundPending


def settle(payment: Payment, truth: GatewayTruth, at: datetime) -> Change:
    """Moves `payment` forward by the truth of one of its checkout sessions."""
    attempt_id = payment.attempt_at_gateway(truth.gateway_ref).id
    match truth:
        case GatewayPaid(amount=amount):
            return record_capture(payment, attempt_id, amount, at)
        case GatewayDeclined(code=code, message=message):
            failure = Failure(code, message)
            return record_failure(payment, attempt_id, AttemptStatus.FAILED, failure, at)
        case GatewayCanceled():
            return record_failure(
                payment, attempt_id, AttemptStatus.CANCELED, attempts.CANCELED, at
            )
        case GatewayExpired():
            return record_failure(payment, attempt_id, AttemptStatus.EXPIRED, attempts.EXPIRED, at)
        case GatewayOpen() | GatewayProcessing():
            return Change.NONE
        case _:
            raise TypeError(f"not a gateway truth: {truth!r}")


def settle_refund(payment: Payment, truth: GatewayRefundTruth, at: datetime) -> Change:
    """Moves one of `payment`'s refunds forward by the gateway's truth about it."""
    match truth:
        case GatewayRefunded(refund_id=refund_id, gateway_ref=ref):
            return record_refund_success(payment, refund_id, at, ref)
        case GatewayRefundFailed(refund_id=refund_id, code=code, message=message, gateway_ref=ref):
            return record_refund_failure(payment, refund_id, Failure(code, message), at, ref)
        case GatewayRefundPending(refund_id=refund_id, gateway_ref=ref):
            refund = payment.refund(refund_id)
            if not ref or refund.gateway_ref:
                return Change.NONE
            refund.gateway_ref = ref
            payment.restate(at)
            return Change.APPLIED
        case _:
            raise TypeError(f"not a gateway refund truth: {truth!r}")


def record_capture(payment: Payment, attempt_id: str, amount: Money, at: datetime) -> Change:
    """The gateway (or the wallet) took `amount` for an attempt. The first capture of the
    intent's exact amount and currency confirms it, whatever the intent's state: money
    taken is real. Any other capture is rejected and refunded in full."""
    if not amount.is_positive:
        raise ValueError(f"a capture takes money; the gateway adapter reported {amount}")
    attempt = payment.attempt(attempt_id)
    if attempt.captured is not None:
        if attempt.captured == amount:
            return Change.NONE
        raise CaptureContradictsRecord(attempt.id, attempt.captured, amount)
    if not payment.is_confirmed and amount == payment.amount:
        attempt.capture(amount, at)
        payment.confirmed_attempt_id = attempt.id
        payment.confirmed_at = at
        payment.method = attempt.method
        payment.events.append(payment.confirmed_event())
    else:
        _reject_capture(payment, attempt, amount, at)
    payment.restate(at)
    return Change.APPLIED


def record_failure(
    payment: Payment, attempt_id: str, status: AttemptStatus, failure: Failure, at: datetime
) -> Change:
    """The gateway says an attempt failed, was cancelled or expired. Only news about the
    open attempt of an open intent is told to the purchasing context: a failure of an
    older attempt, or after payment, is history, not something to act on."""
    attempt = payment.attempt(attempt_id)
    was_pending = attempt.is_pending
    if not attempt.fail(status, failure, at):
        return Change.NONE
    if was_pending and attempt is payment.latest_attempt and payment.is_open:
        _tell_failed(payment, attempt, retryable=at < payment.expires_at, at=at)
    payment.restate(at)
    return Change.APPLIED


def _reject_capture(payment: Payment, attempt: Attempt, amount: Money, at: datetime) -> None:
    was_open = payment.is_open
    # Named by the capture alone, not by what arrived first, so every order agrees.
    if amount != payment.amount:
        failure = Failure(
            attempts.AMOUNT_MISMATCH, f"the gateway took {amount}, not {payment.amount}"
        )
    else:
        failure = Failure(attempts.DUPLICATE_CAPTURE, "the payment was already paid")
    attempt.reject_capture(amount, failure, at)
    payment.events.append(
        CaptureRejected(
            payment.id,
            payment.purchase,
            payment.patient_id,
            attempt.id,
            attempt.gateway_ref,
            amount,
            payment.amount,
            failure.code,
            at,
        )
    )
    if was_open:
        _tell_failed(payment, attempt, retryable=False, at=at)
    refund_rejected_capture(payment, attempt, at)


def _tell_failed(payment: Payment, attempt: Attempt, retryable: bool, at: datetime) -> None:
    assert attempt.failure is not None
    payment.events.append(
        PaymentFailed(
            payment.id,
            payment.purchase,
            payment.patient_id,
            attempt.id,
            attempt.method,
            attempt.failure,
            retryable,
            at,
        )
    )
