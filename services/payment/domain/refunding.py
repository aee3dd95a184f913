"""Giving money back: the refund rules of a payment.

- Refunds of a capture, succeeded and pending together, never exceed what it captured.
- The same idempotency key is the same refund, whoever asks again and however often
  (PurchaseRejected uses "refund:<payment_id>"); the same key for another request is
  refused.
- To the wallet, a refund succeeds at once; through the gateway it is pending until the
  gateway says it succeeded or failed.
- A capture that could not pay the intent is refunded in full automatically, under the key
  "capture:<attempt_id>".
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from runtime.errors import AmountNotPositive, CurrencyMismatch
from runtime.money import Money
from services.payment.domain.attempt import Attempt, Failure
from services.payment.domain.errors import (
    NothingLeftToRefund,
    PaymentNotCaptured,
    RefundExceedsCaptured,
    RefundKeyReused,
    TopUpNotRefundable,
)
from services.payment.domain.events import (
    CaptureRefunded,
    Change,
    PaymentRefunded,
    RefundFailed,
    RefundStarted,
)
from services.payment.domain.ids import derived_id
from services.payment.domain.purchase import PaymentMethod, require_text
from services.payment.domain.refund import (
    Refund,
    RefundDestination,
    RefundStatus,
    check_reason,
    refunds_of,
)
from services.payment.domain.rounding import allocate, round_half_up

if TYPE_CHECKING:
    from services.payment.domain.payment import Payment


def request_refund(
    payment: Payment,
    *,
    key: str,
    amount: Money | None,
    reason: str,
    destination: RefundDestination,
    at: datetime,
    capture_id: str | None = None,
    gateway_step_minor: int = 1,
) -> Refund:
    """Starts a refund of the confirmed capture, `amount` of it or everything left when
    None. `capture_id` names a rejected capture instead, to refund it again after its
    automatic refund failed. `gateway_step_minor`: the step the gateway takes amounts of
    this currency in (Stripe's three-decimal currencies go in tens of minor units); a
    refund through it is rounded to that step. Returns the refund, the existing one for a
    repeated key."""
    require_text(key, "idempotency_key")
    check_reason(reason)
    capture_id = capture_id or payment.confirmed_attempt_id
    for refund in payment.refunds:
        if refund.key == key:
            if refund.same_request(capture_id or "", amount, reason, destination):
                return refund
            raise RefundKeyReused()
    capture = payment.attempt(capture_id) if capture_id else None
    if capture is None or capture.captured is None:
        raise PaymentNotCaptured(payment.id, payment.status.value)
    if capture.id == payment.confirmed_attempt_id and payment.purchase.is_top_up:
        raise TopUpNotRefundable(payment.id)
    via_gateway = (
        destination is RefundDestination.ORIGINAL_METHOD and capture.method is PaymentMethod.GATEWAY
    )
    refunded = _amount_to_refund(payment, capture, amount)
    if via_gateway:
        refunded = _in_steps(refunded, gateway_step_minor, payment.refundable_of(capture))
    refund = Refund(
        derived_id(payment.id, "refund", key),
        key,
        capture.id,
        refunded,
        amount,
        reason,
        destination,
        via_gateway,
        at,
    )
    _open(payment, refund, capture, at)
    return refund


def refund_rejected_capture(payment: Payment, capture: Attempt, at: datetime) -> None:
    """Opens the full refund of money the gateway took that cannot pay the intent."""
    assert capture.captured is not None and capture.failure is not None
    key = f"capture:{capture.id}"
    refund = Refund(
        derived_id(payment.id, "refund", key),
        key,
        capture.id,
        capture.captured,
        None,
        capture.failure.code,
        RefundDestination.ORIGINAL_METHOD,
        True,
        at,
    )
    _open(payment, refund, capture, at)


def record_refund_success(
    payment: Payment, refund_id: str, at: datetime, gateway_ref: str = ""
) -> Change:
    refund = payment.refund(refund_id)
    if refund.status is RefundStatus.SUCCEEDED:
        return Change.NONE
    _succeed(payment, refund, at, gateway_ref)
    payment.restate(at)
    return Change.APPLIED


def record_refund_failure(
    payment: Payment, refund_id: str, failure: Failure, at: datetime, gateway_ref: str = ""
) -> Change:
    """The gateway refused the refund: its amount is refundable again, under a new key."""
    refund = payment.refund(refund_id)
    if not refund.fail(failure, at, gateway_ref):
        return Change.NONE
    payment.events.append(RefundFailed(payment.id, refund.id, refund.amount, failure, at))
    payment.restate(at)
    return Change.APPLIED


def _amount_to_refund(payment: Payment, capture: Attempt, amount: Money | None) -> Money:
    left = payment.refundable_of(capture)
    if amount is None:
        if left.is_zero:
            raise NothingLeftToRefund(payment.id)
        return left
    if amount.currency != left.currency:
        raise CurrencyMismatch(left.currency, amount.currency, "amount.currency")
    if not amount.is_positive:
        raise AmountNotPositive("amount.amount_minor")
    if amount > left:
        assert capture.captured is not None
        raise RefundExceedsCaptured(payment.id, capture.captured, capture.captured - left, amount)
    return amount


def _in_steps(amount: Money, step: int, left: Money) -> Money:
    """`amount` to the nearest whole step, a half step up (the patient's way: 6.175 KWD
    goes back as 6.180), but never more than is `left` to refund (then a step down)."""
    if not amount.amount_minor % step:
        return amount
    nearest = round_half_up(Fraction(amount.amount_minor, step)) * step
    if nearest > left.amount_minor:
        nearest = amount.amount_minor // step * step
    return Money(nearest, amount.currency)


def _open(payment: Payment, refund: Refund, capture: Attempt, at: datetime) -> None:
    payment.refunds.append(refund)
    if refund.via_gateway:
        payment.events.append(
            RefundStarted(
                payment.id, refund.id, capture.gateway_ref, refund.amount, refund.reason, at
            )
        )
    else:
        _succeed(payment, refund, at, "")
    payment.restate(at)


def _succeed(payment: Payment, refund: Refund, at: datetime, gateway_ref: str) -> None:
    if refund.capture_id != payment.confirmed_attempt_id:
        refund.succeed((), at, gateway_ref)
        payment.events.append(
            CaptureRefunded(
                payment.id,
                payment.purchase,
                payment.patient_id,
                refund.id,
                refund.capture_id,
                refund.amount,
                refund.reason,
                at,
            )
        )
        return
    refund.succeed(_allocation(payment, refund), at, gateway_ref)
    refunded = payment.refunded
    payment.events.append(
        PaymentRefunded(
            payment.id,
            payment.purchase,
            payment.patient_id,
            refund.id,
            refund.amount,
            refunded,
            refunded == payment.captured,
            refund.reason,
            refund.destination,
            at,
        )
    )


def _allocation(payment: Payment, refund: Refund) -> tuple[int, ...]:
    """The refund spread over what each payee line has left, so no line ever gives back
    more than it received; fixed when it succeeds, in the order refunds succeed."""
    left = [line.amount.amount_minor for line in payment.lines]
    for earlier in refunds_of(payment.refunds, refund.capture_id, RefundStatus.SUCCEEDED):
        for i, share in enumerate(earlier.allocation):
            left[i] -= share
    return tuple(allocate(refund.amount.amount_minor, left))
