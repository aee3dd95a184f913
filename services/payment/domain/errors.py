"""The payment rules a caller can break, each named for the rule.

The kind each one subclasses (InvalidArgument, NotFound, FailedPrecondition) decides its
gRPC status in one place; the class name becomes the ErrorInfo reason and the keyword
arguments its metadata. Money in metadata is spelled out as minor units plus currency, so a
client can build a WalletShortfall detail or a message without parsing text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    IdempotencyKeyReused,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)

if TYPE_CHECKING:
    from runtime.money import Money


class FieldTooLong(InvalidArgument):
    def __init__(self, field: str, limit: int) -> None:
        super().__init__(field, f"must be at most {limit} characters")


class PayeeLinesMissing(InvalidArgument):
    def __init__(self) -> None:
        super().__init__("lines", "a payment needs at least one payee line")


class TooManyPayeeLines(InvalidArgument):
    def __init__(self, limit: int) -> None:
        super().__init__("lines", f"a payment has at most {limit} payee lines")


class PayeeLinesDoNotAddUp(InvalidArgument):
    """The lines of a payment must add up to its amount exactly: nobody's share is a guess."""

    def __init__(self, amount: Money, lines_total: Money) -> None:
        super().__init__("lines", f"add up to {lines_total}, but the payment is for {amount}")


class InvalidPayee(InvalidArgument):
    pass


class ExpiryNotInFuture(InvalidArgument):
    def __init__(self) -> None:
        super().__init__("expires_at", "must be after the payment is created")


class RefundKeyReused(IdempotencyKeyReused):
    """The same refund key came back with a different amount, reason or destination."""


class UnknownAttempt(NotFound):
    """The gateway named a checkout session this payment never opened."""

    def __init__(self, payment_id: str, gateway_ref: str) -> None:
        super().__init__(
            f"payment {payment_id} has no attempt with gateway reference {gateway_ref!r}",
            payment_id=payment_id,
            gateway_ref=gateway_ref,
        )


class PaymentNotFound(NotFound):
    """No such payment, or not the caller's: the two are told apart to nobody."""

    def __init__(self, payment_id: str) -> None:
        super().__init__(f"no payment {payment_id}", payment_id=payment_id)


class NotThePurchasersPayment(PermissionDenied):
    """A purchasing context spoke of a payment for another context's purchase."""

    def __init__(self, payment_id: str, kind: str, purchaser: str) -> None:
        super().__init__(
            f"{purchaser} may not speak for payment {payment_id} of a {kind} purchase",
            payment_id=payment_id,
        )


class PurchaseHasAnotherPayment(AlreadyExists):
    """A purchase is paid by one intent; asking for another one with other terms (another
    amount, payer, lines or method) is refused rather than charging twice."""

    def __init__(self, payment_id: str, kind: str, ref: str) -> None:
        super().__init__(
            f"purchase {kind}/{ref} already has payment {payment_id} with other terms",
            payment_id=payment_id,
            purchase_kind=kind,
            purchase_ref=ref,
        )


class UnknownRefund(NotFound):
    def __init__(self, payment_id: str, refund_id: str) -> None:
        super().__init__(
            f"payment {payment_id} has no refund {refund_id}",
            payment_id=payment_id,
            refund_id=refund_id,
        )


class PaymentAlreadySettled(FailedPrecondition):
    """The payment was captured; it can be refunded, never paid, retried or cancelled again."""

    def __init__(self, payment_id: str, status: str) -> None:
        super().__init__(
            f"payment {payment_id} is already paid ({status})",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
            status=status,
        )


class TooManyPaymentAttempts(ResourceExhausted):
    """Each attempt is a new session at the gateway; a payment starts only so many in a
    while (gateway_calls.GatewayCallLimits)."""

    def __init__(
        self, payment_id: str, attempts: int, limit: int, window: timedelta, retry_after: timedelta
    ) -> None:
        super().__init__(
            f"payment {payment_id} had {attempts} attempts in the last"
            f" {int(window.total_seconds())} seconds, the most allowed is {limit}; try again"
            " later",
            subject=f"payment:{payment_id}",
            limit=limit,
            retry_after=retry_after,
            payment_id=payment_id,
        )


class PaymentClosed(FailedPrecondition):
    """Cancelled, expired, or closed by a capture for the wrong amount: no new attempt."""

    def __init__(self, payment_id: str, status: str) -> None:
        super().__init__(
            f"payment {payment_id} takes no more attempts ({status})",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
            status=status,
        )


class AttemptInProgress(FailedPrecondition):
    """One attempt at a time: a second checkout while one is open could charge twice."""

    def __init__(self, payment_id: str, attempt_id: str) -> None:
        super().__init__(
            f"payment {payment_id} has attempt {attempt_id} still open at the gateway",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
            attempt_id=attempt_id,
        )


class PaymentNotYetExpired(FailedPrecondition):
    def __init__(self, payment_id: str, expires_at: datetime) -> None:
        super().__init__(
            f"payment {payment_id} is open until {expires_at.isoformat()}",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
            expires_at=expires_at.isoformat(),
        )


class AttemptStillOpen(FailedPrecondition):
    """An intent whose attempt the gateway has not answered for is expired only after a
    grace period: until then the gateway's word may still be a payment."""

    def __init__(self, payment_id: str, attempt_id: str, wait_until: datetime) -> None:
        super().__init__(
            f"payment {payment_id}: attempt {attempt_id} is unanswered until "
            f"{wait_until.isoformat()}",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
            attempt_id=attempt_id,
            wait_until=wait_until.isoformat(),
        )


class CheckoutAlreadyAttached(FailedPrecondition):
    """An attempt is one gateway checkout session; a second one would be a second charge."""

    def __init__(self, attempt_id: str, gateway_ref: str) -> None:
        super().__init__(
            f"attempt {attempt_id} already has gateway session {gateway_ref}",
            attempt_id=attempt_id,
            gateway_ref=gateway_ref,
        )


class CaptureContradictsRecord(FailedPrecondition):
    """The gateway now reports another amount for a capture already recorded. Money already
    confirmed is never rewritten; an operator has to look."""

    def __init__(self, attempt_id: str, recorded: Money, reported: Money) -> None:
        super().__init__(
            f"attempt {attempt_id} captured {recorded}, but the gateway now says {reported}",
            attempt_id=attempt_id,
            **_money("recorded", recorded),
            **_money("reported", reported),
        )


class PaymentNotCaptured(FailedPrecondition):
    def __init__(self, payment_id: str, status: str) -> None:
        super().__init__(
            f"payment {payment_id} has captured nothing to refund ({status})",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
            status=status,
        )


class RefundExceedsCaptured(FailedPrecondition):
    """Refunds, succeeded and pending together, never exceed what was captured."""

    def __init__(
        self, payment_id: str, captured: Money, committed: Money, requested: Money
    ) -> None:
        refundable = captured - committed
        super().__init__(
            f"payment {payment_id} captured {captured} and has {committed} refunded or "
            f"being refunded; {requested} is more than the {refundable} left",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
            **_money("captured", captured),
            **_money("committed", committed),
            **_money("requested", requested),
            **_money("refundable", refundable),
        )


class NothingLeftToRefund(FailedPrecondition):
    def __init__(self, payment_id: str) -> None:
        super().__init__(
            f"payment {payment_id} is refunded, or being refunded, in full",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
        )


class TopUpNotRefundable(FailedPrecondition):
    """A gateway refund takes days; a top-up refunded that way could be spent meanwhile,
    so top-ups are not refunded here (an operator can move the money deliberately)."""

    def __init__(self, payment_id: str) -> None:
        super().__init__(
            f"payment {payment_id} is a wallet top-up and is not refundable",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
        )


class WalletCannotPayTopUp(FailedPrecondition):
    def __init__(self, payment_id: str) -> None:
        super().__init__(
            f"payment {payment_id} tops up the wallet; it is paid through the gateway",
            subject=f"payment:{payment_id}",
            payment_id=payment_id,
        )


class RefundOutcomeContradicted(FailedPrecondition):
    """The gateway reversed its word on a refund (succeeded, then failed or the other way).
    Booked money is never rewritten silently; an operator has to look."""

    def __init__(self, refund_id: str, recorded: str, reported: str) -> None:
        super().__init__(
            f"refund {refund_id} is recorded {recorded}, but the gateway now says {reported}",
            refund_id=refund_id,
            recorded=recorded,
            reported=reported,
        )


class InsufficientWalletBalance(FailedPrecondition):
    """The wallet holds less than the payment needs; `shortfall` is what a top-up must add."""

    def __init__(self, patient_id: str, balance: Money, required: Money) -> None:
        shortfall = required - balance
        super().__init__(
            f"the wallet holds {balance}; {required} is needed, {shortfall} short",
            subject=f"wallet:{patient_id}",
            patient_id=patient_id,
            **_money("balance", balance),
            **_money("required", required),
            **_money("shortfall", shortfall),
        )
        self.balance = balance
        self.required = required
        self.shortfall = shortfall


class PayoutStillHeld(FailedPrecondition):
    def __init__(self, payout_id: str, release_at: datetime) -> None:
        super().__init__(
            f"payout {payout_id} is held until {release_at.isoformat()}",
            subject=f"payout:{payout_id}",
            payout_id=payout_id,
            release_at=release_at.isoformat(),
        )


class LedgerTransactionUnbalanced(FailedPrecondition):
    """Every ledger transaction's entries sum to zero in each currency: money is moved,
    never made or lost."""

    def __init__(self, memo: str, sums: Mapping[str, int]) -> None:
        off = ", ".join(f"{amount} {currency}" for currency, amount in sorted(sums.items()))
        super().__init__(f"ledger transaction {memo!r} is off by {off}", memo=memo, off_by=off)


def _money(name: str, money: Money) -> dict[str, object]:
    return {f"{name}_minor": money.amount_minor, f"{name}_currency": money.currency}
