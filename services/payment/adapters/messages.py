"""The translation between payment's protos and its domain, for the gRPC servicer and the
event consumer. Nothing is decided here: every rule about money, payees or states is the
domain's; this module only moves values across and names the proto field a bad one came
from, so the caller sees INVALID_ARGUMENT on the right field.

Enums are paired by name (PaymentStatus.SUCCEEDED is PAYMENT_STATUS_SUCCEEDED), and every
pairing is checked when the module is imported (see `runtime.wire.enum_pair`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any, TypeVar

from google.protobuf.message import Message
from nobat.common.v1 import checkout_pb2
from nobat.payment.v1 import events_pb2, payment_service_pb2

from runtime.errors import FieldRequired, InvalidArgument
from runtime.wire import (
    enum_pair,
    is_unset,
    money_from,
    money_message,
    optional_timestamp,
    rooted,
    timestamp,
    timestamp_or_none,
)
from services.payment.domain import events
from services.payment.domain.attempt import Attempt, AttemptStatus, Failure
from services.payment.domain.audit import PaymentEvent
from services.payment.domain.disputes import Dispute, DisputeStatus
from services.payment.domain.errors import InsufficientWalletBalance, InvalidPayee
from services.payment.domain.ledger import Account, AccountKind, PostedEntry
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.payouts import Payout, PayoutStatus
from services.payment.domain.purchase import PayeeKind, PayeeLine, PaymentMethod, Purchase
from services.payment.domain.refund import Refund, RefundDestination, RefundStatus
from services.payment.domain.wallet import Wallet, WalletTransaction, WalletTransactionKind

__all__ = [
    "account_from",
    "destination_from",
    "dispute_message",
    "dispute_status_from",
    "doctor_or_platform_from",
    "event_message",
    "ledger_entry_message",
    "method_from",
    "method_or_none_from",
    "payee_lines_from",
    "payment_message",
    "payment_status_from",
    "payout_message",
    "payout_status_from",
    "purchase_from",
    "refund_message",
    "timestamp",
    "timestamp_or_none",
    "wallet_message",
    "wallet_shortfall_message",
    "wallet_transaction_message",
]

pb = payment_service_pb2
E = TypeVar("E", bound=Enum)


_METHODS = enum_pair(PaymentMethod, checkout_pb2.PaymentMethod, "PAYMENT_METHOD_")
_PAYMENT_STATUSES = enum_pair(PaymentStatus, pb.PaymentStatus, "PAYMENT_STATUS_")
_ATTEMPT_STATUSES = enum_pair(AttemptStatus, pb.AttemptStatus, "ATTEMPT_STATUS_")
_PAYEE_KINDS = enum_pair(PayeeKind, pb.PayeeKind, "PAYEE_KIND_")
_DESTINATIONS = enum_pair(RefundDestination, pb.RefundDestination, "REFUND_DESTINATION_")
_REFUND_STATUSES = enum_pair(RefundStatus, pb.RefundStatus, "REFUND_STATUS_")
_PAYOUT_STATUSES = enum_pair(PayoutStatus, pb.PayoutStatus, "PAYOUT_STATUS_")
_WALLET_KINDS = enum_pair(
    WalletTransactionKind, pb.WalletTransactionKind, "WALLET_TRANSACTION_KIND_"
)
_ACCOUNT_KINDS = enum_pair(AccountKind, pb.LedgerAccountKind, "LEDGER_ACCOUNT_KIND_")
_DISPUTE_STATUSES = enum_pair(DisputeStatus, pb.DisputeStatus, "DISPUTE_STATUS_")


# Domain -> proto.


def _purchase(purchase: Purchase) -> pb.Purchase:
    return pb.Purchase(kind=purchase.kind, ref=purchase.ref)


def _lines(lines: Iterable[PayeeLine]) -> list[pb.PayeeLine]:
    return [
        pb.PayeeLine(
            payee_kind=_PAYEE_KINDS.to_proto[line.payee],
            payee_id=line.payee_id,
            amount=money_message(line.amount),
            description=line.description,
        )
        for line in lines
    ]


def _failure(failure: Failure | None, retryable: bool) -> checkout_pb2.PaymentFailure | None:
    if failure is None:
        return None
    return checkout_pb2.PaymentFailure(
        code=failure.code, message=failure.message, retryable=retryable
    )


def _attempt(attempt: Attempt, retryable: bool) -> pb.PaymentAttempt:
    return pb.PaymentAttempt(
        id=attempt.id,
        number=attempt.number,
        method=_METHODS.to_proto[attempt.method],
        status=_ATTEMPT_STATUSES.to_proto[attempt.status],
        gateway_ref=attempt.gateway_ref,
        checkout_url=attempt.checkout_url,
        failure=_failure(attempt.failure, retryable),
        created_at=timestamp(attempt.created_at),
        settled_at=optional_timestamp(attempt.settled_at),
    )


def _retryable(payment: Payment, attempt: Attempt) -> bool:
    """Whether a failure on `attempt` leaves room for RetryPayment, read from the record
    alone (this layer has no clock): the latest attempt of an intent still open. An open
    intent past expires_at still says true until the expiry job closes it, minutes later;
    RetryPayment refuses it meanwhile, as a retry racing that job would be refused anyway."""
    return payment.is_open and attempt is payment.latest_attempt


def refund_message(refund: Refund, payment_id: str) -> pb.Refund:
    return pb.Refund(
        id=refund.id,
        payment_id=payment_id,
        amount=money_message(refund.amount),
        reason=refund.reason,
        destination=_DESTINATIONS.to_proto[refund.destination],
        status=_REFUND_STATUSES.to_proto[refund.status],
        gateway_ref=refund.gateway_ref,
        created_at=timestamp(refund.created_at),
        settled_at=optional_timestamp(refund.settled_at),
    )


def payment_message(payment: Payment) -> pb.Payment:
    return pb.Payment(
        id=payment.id,
        purchase=_purchase(payment.purchase),
        patient_id=payment.patient_id,
        amount=money_message(payment.amount),
        lines=_lines(payment.lines),
        method=_METHODS.to_proto[payment.method],
        status=_PAYMENT_STATUSES.to_proto[payment.status],
        checkout_url=payment.checkout_url,
        return_url=payment.return_url,
        attempts=[_attempt(a, _retryable(payment, a)) for a in payment.attempts],
        refunded=money_message(payment.refunded),
        refunds=[refund_message(refund, payment.id) for refund in payment.refunds],
        description=payment.description,
        created_at=timestamp(payment.created_at),
        expires_at=timestamp(payment.expires_at),
        confirmed_at=optional_timestamp(payment.confirmed_at),
        updated_at=optional_timestamp(payment.updated_at),
    )


def wallet_message(wallet: Wallet) -> pb.Wallet:
    return pb.Wallet(
        patient_id=wallet.patient_id,
        balances=[money_message(balance) for balance in wallet.holdings],
        updated_at=optional_timestamp(wallet.updated_at),
    )


def wallet_transaction_message(transaction: WalletTransaction) -> pb.WalletTransaction:
    return pb.WalletTransaction(
        id=transaction.id,
        patient_id=transaction.patient_id,
        kind=_WALLET_KINDS.to_proto[transaction.kind],
        amount=money_message(transaction.amount),
        balance_after=money_message(transaction.balance_after),
        payment_id=transaction.payment_id,
        created_at=timestamp(transaction.created_at),
    )


def wallet_shortfall_message(error: InsufficientWalletBalance) -> pb.WalletShortfall:
    """The detail of the FAILED_PRECONDITION a wallet too short to pay answers with."""
    return pb.WalletShortfall(
        balance=money_message(error.balance),
        required=money_message(error.required),
        shortfall=money_message(error.shortfall),
    )


def payment_event_message(event: PaymentEvent) -> pb.PaymentEvent:
    action, actor = event.action, event.action.actor
    return pb.PaymentEvent(
        action=action.name,
        status=_PAYMENT_STATUSES.to_proto[event.status],
        actor_id=actor.id,
        actor_role=actor.role,
        client_address=actor.client_address,
        user_agent=actor.user_agent,
        reason=action.reason,
        at=timestamp(event.at),
    )


def payout_message(payout: Payout) -> pb.Payout:
    # The split now, after any refunds before release: what the doctor will be paid.
    split = payout.split
    return pb.Payout(
        id=payout.id,
        doctor_id=payout.doctor_id,
        payment_id=payout.payment_id,
        gross=money_message(split.gross),
        platform_fee=money_message(split.platform_fee),
        gateway_fee=money_message(split.gateway_fee),
        net=money_message(split.net),
        status=_PAYOUT_STATUSES.to_proto[payout.status],
        earned_at=timestamp(payout.earned_at),
        release_at=timestamp(payout.release_at),
        released_at=optional_timestamp(payout.released_at),
        reversed_at=optional_timestamp(payout.reversed_at),
        moved_at=optional_timestamp(payout.moved_at),
    )


def dispute_message(dispute: Dispute) -> pb.Dispute:
    return pb.Dispute(
        id=dispute.id,
        payment_id=dispute.payment_id,
        gateway_ref=dispute.gateway_ref,
        amount=money_message(dispute.amount),
        reason=dispute.reason,
        status=_DISPUTE_STATUSES.to_proto[dispute.status],
        funds_withdrawn=dispute.withdrawn,
        opened_at=timestamp(dispute.opened_at),
        closed_at=optional_timestamp(dispute.closed_at),
    )


def ledger_entry_message(posted: PostedEntry) -> pb.LedgerEntry:
    entry = posted.entry
    return pb.LedgerEntry(
        id=str(posted.id),
        transaction_id=posted.transaction_id,
        account=pb.LedgerAccount(
            kind=_ACCOUNT_KINDS.to_proto[entry.account.kind], owner_id=entry.account.owner_id
        ),
        amount=money_message(entry.amount),
        payment_id=posted.payment_id,
        memo=posted.memo.value,
        created_at=timestamp(posted.created_at),
    )


# Domain events -> the published protos of the same names.

_PaymentFact = (
    events.PaymentConfirmed
    | events.PaymentFailed
    | events.PaymentExpired
    | events.PaymentRefunded
    | events.PurchaseVoided
)


def _about(event: _PaymentFact) -> dict[str, Any]:
    """What every published payment event opens with: which payment, for what, by whom."""
    return {
        "payment_id": event.payment_id,
        "purchase": _purchase(event.purchase),
        "patient_id": event.patient_id,
    }


def _confirmed(event: events.PaymentConfirmed) -> events_pb2.PaymentConfirmed:
    return events_pb2.PaymentConfirmed(
        **_about(event),
        amount=money_message(event.amount),
        method=_METHODS.to_proto[event.method],
        lines=_lines(event.lines),
        attempt_id=event.attempt_id,
        gateway_ref=event.gateway_ref,
        confirmed_at=timestamp(event.confirmed_at),
    )


def _failed(event: events.PaymentFailed) -> events_pb2.PaymentFailed:
    return events_pb2.PaymentFailed(
        **_about(event),
        attempt_id=event.attempt_id,
        method=_METHODS.to_proto[event.method],
        failure=_failure(event.failure, event.retryable),
        failed_at=timestamp(event.failed_at),
    )


def _expired(event: events.PaymentExpired) -> events_pb2.PaymentExpired:
    return events_pb2.PaymentExpired(
        **_about(event),
        expired_at=timestamp(event.expired_at),
    )


def _refunded(event: events.PaymentRefunded) -> events_pb2.PaymentRefunded:
    return events_pb2.PaymentRefunded(
        **_about(event),
        refund_id=event.refund_id,
        amount=money_message(event.amount),
        refunded_total=money_message(event.refunded_total),
        full=event.full,
        reason=event.reason,
        destination=_DESTINATIONS.to_proto[event.destination],
        refunded_at=timestamp(event.refunded_at),
    )


def _voided(event: events.PurchaseVoided) -> events_pb2.PurchaseVoided:
    return events_pb2.PurchaseVoided(
        **_about(event),
        reason=event.reason,
        voided_at=timestamp(event.voided_at),
    )


def _released(event: events.PayoutReleased) -> events_pb2.PayoutReleased:
    return events_pb2.PayoutReleased(
        payout_id=event.payout_id,
        doctor_id=event.doctor_id,
        payment_id=event.payment_id,
        gross=money_message(event.gross),
        net=money_message(event.net),
        released_at=timestamp(event.released_at),
    )


def _unpublished(event: object) -> None:
    """Payment's own business (a refund to send, a capture to give back): never published."""
    return None


_EVENTS: Mapping[type, Callable[[Any], Message | None]] = MappingProxyType(
    {
        events.PaymentConfirmed: _confirmed,
        events.PaymentFailed: _failed,
        events.PaymentExpired: _expired,
        events.PaymentRefunded: _refunded,
        events.PurchaseVoided: _voided,
        events.PayoutReleased: _released,
        events.RefundStarted: _unpublished,
        events.RefundFailed: _unpublished,
        events.CaptureRejected: _unpublished,
        events.CaptureRefunded: _unpublished,
    }
)


def event_message(event: events.PaymentEvent | events.PayoutReleased) -> Message | None:
    """The proto to publish for a domain event, or None for one that stays inside payment.
    An event this table does not know is a bug (a new event must be sorted into published
    or not on purpose), so it raises rather than silently going unpublished."""
    try:
        translate = _EVENTS[type(event)]
    except KeyError:
        raise TypeError(f"no proto mapping for event {type(event).__name__}") from None
    return translate(event)


# Proto -> domain, for requests and consumed events.


def purchase_from(message: pb.Purchase, field: str = "purchase") -> Purchase:
    if is_unset(message):
        raise FieldRequired(field)
    with rooted("purchase", field):
        return Purchase(message.kind, message.ref)


def payee_lines_from(lines: Iterable[pb.PayeeLine], field: str = "lines") -> list[PayeeLine]:
    """The lines as given; whether they add up, share the currency and suit the purchase
    is checked by Payment.create, which names the same `lines[i]` paths."""
    return [
        PayeeLine(
            _PAYEE_KINDS.required(line.payee_kind, f"{field}[{i}].payee_kind"),
            line.payee_id,
            money_from(line.amount, f"{field}[{i}].amount"),
            line.description,
        )
        for i, line in enumerate(lines)
    ]


def doctor_or_platform_from(kind: int, payee_id: str, field: str = "payee_kind") -> str | None:
    """A line's new payee: a doctor's id, or None for the platform; a wallet is no one's
    new payee."""
    payee = _PAYEE_KINDS.required(kind, field)
    if payee is PayeeKind.PLATFORM and not payee_id:
        return None
    if payee is PayeeKind.DOCTOR and payee_id:
        return payee_id
    raise InvalidPayee("payee_id", "a doctor's id, or empty for the platform")


def method_from(value: int, field: str = "method") -> PaymentMethod:
    return _METHODS.required(value, field)


def method_or_none_from(value: int, field: str = "method") -> PaymentMethod | None:
    """None where unspecified has a meaning (RetryPayment: keep the last method)."""
    return _METHODS.optional(value, field)


def destination_from(value: int, field: str = "destination") -> RefundDestination:
    """Unspecified means back the way the money came, as the proto says."""
    destination = _DESTINATIONS.optional(value, field)
    return RefundDestination.ORIGINAL_METHOD if destination is None else destination


def payment_status_from(value: int, field: str = "status") -> PaymentStatus | None:
    """A list filter: None (unspecified) means every status."""
    return _PAYMENT_STATUSES.optional(value, field)


def payout_status_from(value: int, field: str = "status") -> PayoutStatus | None:
    """A list filter: None (unspecified) means every status."""
    return _PAYOUT_STATUSES.optional(value, field)


def dispute_status_from(value: int, field: str = "status") -> DisputeStatus | None:
    """A list filter: None (unspecified) means every status."""
    return _DISPUTE_STATUSES.optional(value, field)


def account_from(message: pb.LedgerAccount, field: str = "account") -> Account | None:
    """A ledger filter: None (unset) means every account."""
    if is_unset(message):
        return None
    kind = _ACCOUNT_KINDS.required(message.kind, f"{field}.kind")
    try:
        return Account(kind, message.owner_id)
    except ValueError:
        # Account refuses an owner where there is none to have, and the reverse.
        rule = "must be empty for" if message.owner_id else "is required for"
        raise InvalidArgument(f"{field}.owner_id", f"{rule} {kind.value} accounts") from None
