"""Payment's messages as every purchasing context reads and writes them: its events about
a checkout's payment, and the outcomes (nobat.payment.v1) a context publishes back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, overload

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nobat.common.v1 import checkout_pb2
from nobat.payment.v1 import events_pb2, payment_service_pb2

from purchasing.checkout import (
    Checkout,
    CheckoutStatus,
    ConfirmedPayment,
    PaymentFailure,
    PaymentMethod,
)
from purchasing.events import (
    PayeeAssigned,
    Purchase,
    PurchaseFulfilled,
    PurchaseRejected,
    RefundRequested,
)
from purchasing.news import PurchaseVoided
from runtime.wire import (
    enum_pair,
    field_required,
    money_from,
    money_message,
    timestamp,
    timestamp_or_none,
)

_METHODS = enum_pair(PaymentMethod, checkout_pb2.PaymentMethod, "PAYMENT_METHOD_")
_CHECKOUT_STATUSES = enum_pair(CheckoutStatus, checkout_pb2.CheckoutStatus, "CHECKOUT_STATUS_")


def checkout_status_from(value: int, field: str = "status") -> CheckoutStatus | None:
    """A list filter: None (unspecified) means every status."""
    return _CHECKOUT_STATUSES.optional(value, field)


def method_message(method: PaymentMethod) -> checkout_pb2.PaymentMethod.ValueType:
    return _METHODS.to_proto[method]


@overload
def method_from(
    value: int, field: str = ..., allow_unspecified: Literal[False] = ...
) -> PaymentMethod: ...
@overload
def method_from(
    value: int, field: str = ..., allow_unspecified: bool = ...
) -> PaymentMethod | None: ...
def method_from(
    value: int, field: str = "method", allow_unspecified: bool = False
) -> PaymentMethod | None:
    """None only where unspecified has a meaning (RetryCheckout: keep the current method)."""
    if allow_unspecified:
        return _METHODS.optional(value, field)
    return _METHODS.required(value, field)


def payment_failure_message(
    failure: PaymentFailure | None, *, still_open: bool
) -> checkout_pb2.PaymentFailure | None:
    """A checkout's last failed attempt as payment reported it. A checkout no longer open
    keeps the failure that ended it, which nothing can retry now, so it is retryable only
    while `still_open`."""
    if failure is None:
        return None
    return checkout_pb2.PaymentFailure(
        code=failure.code, message=failure.message, retryable=failure.retryable and still_open
    )


def payment_progress_fields(checkout: Checkout) -> dict[str, Any]:
    """The fields of a context's Checkout message that tell how it is being paid."""
    return {
        "method": method_message(checkout.method),
        "status": _CHECKOUT_STATUSES.to_proto[checkout.status],
        "payment_id": checkout.payment_id,
        "checkout_url": checkout.checkout_url,
        # An open checkout past its expiry still says what payment said until the expiry
        # job runs, minutes later; RetryCheckout refuses it meanwhile (no clock here).
        "payment_failure": payment_failure_message(
            checkout.payment_failure, still_open=checkout.is_open
        ),
        "created_at": timestamp(checkout.created_at),
        "updated_at": timestamp(checkout.updated_at),
    }


def confirmed_payment_from(message: events_pb2.PaymentConfirmed) -> ConfirmedPayment:
    """What a purchasing context decides a PaymentConfirmed on (the checkout is
    purchase.ref): the payment, the amount and when. Payment always sends all three, so
    one missing is refused rather than guessed."""
    return ConfirmedPayment(
        _payment_id(message),
        money_from(message.amount, "amount"),
        _instant(message.confirmed_at, "confirmed_at"),
    )


def purchase_voided_from(message: events_pb2.PurchaseVoided) -> PurchaseVoided:
    """The news that payment gave the checkout's (purchase.ref) money back on its own;
    like a confirmation, it always names the payment and when."""
    return PurchaseVoided(
        message.purchase.ref,
        _payment_id(message),
        message.reason,
        _instant(message.voided_at, "voided_at"),
    )


def _payment_id(message: events_pb2.PaymentConfirmed | events_pb2.PurchaseVoided) -> str:
    if not message.payment_id:
        raise field_required("payment_id")
    return message.payment_id


def _instant(message: Timestamp, field: str) -> datetime:
    instant = timestamp_or_none(message, field)
    if instant is None:
        raise field_required(field)
    return instant


def payment_failure_from(message: events_pb2.PaymentFailed) -> PaymentFailure:
    """Why the attempt failed, as payment said. An empty failure is read as it stands, a
    final one with no code: proto3 cannot tell it from retryable=false, and a gateway may
    decline without a code."""
    failure = message.failure
    return PaymentFailure(failure.code, failure.message, failure.retryable)


def _purchase(purchase: Purchase) -> payment_service_pb2.Purchase:
    return payment_service_pb2.Purchase(kind=purchase.kind, ref=purchase.ref)


def _fulfilled(event: PurchaseFulfilled) -> events_pb2.PurchaseFulfilled:
    return events_pb2.PurchaseFulfilled(
        payment_id=event.payment_id,
        purchase=_purchase(event.purchase),
        fulfilled_at=timestamp(event.fulfilled_at),
    )


def _rejected(event: PurchaseRejected) -> events_pb2.PurchaseRejected:
    return events_pb2.PurchaseRejected(
        payment_id=event.payment_id,
        purchase=_purchase(event.purchase),
        reason=event.reason,
        rejected_at=timestamp(event.rejected_at),
    )


def outcome_message(event: PurchaseFulfilled | PurchaseRejected) -> Message:
    """A purchase's outcome, as payment reads it."""
    return _fulfilled(event) if isinstance(event, PurchaseFulfilled) else _rejected(event)


def outcome_messages() -> Mapping[type, Callable[[Any], Message]]:
    """The translations of what a purchasing context tells payment, for its table of
    events."""

    def refund_requested(event: RefundRequested) -> events_pb2.RefundRequested:
        # No destination: unspecified is back the way the money came, as payment's proto says.
        return events_pb2.RefundRequested(
            idempotency_key=event.idempotency_key,
            payment_id=event.payment_id,
            purchase=_purchase(event.purchase),
            amount=money_message(event.amount),
            reason=event.reason,
            requested_at=timestamp(event.requested_at),
        )

    def payee_assigned(event: PayeeAssigned) -> events_pb2.PayeeAssigned:
        doctor = payment_service_pb2.PAYEE_KIND_DOCTOR
        return events_pb2.PayeeAssigned(
            payment_id=event.payment_id,
            purchase=_purchase(event.purchase),
            line=0,
            payee_kind=doctor if event.doctor_id else payment_service_pb2.PAYEE_KIND_PLATFORM,
            payee_id=event.doctor_id or "",
            assignment=event.assignment,
            assigned_at=timestamp(event.assigned_at),
        )

    return MappingProxyType(
        {
            PurchaseFulfilled: _fulfilled,
            PurchaseRejected: _rejected,
            RefundRequested: refund_requested,
            PayeeAssigned: payee_assigned,
        }
    )
