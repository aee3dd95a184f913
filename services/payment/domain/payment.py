"""A payment intent: one purchase, paid by one patient, tried by one or more attempts.

    requires_payment ──attempt──▶ processing ──captured──▶ succeeded ──refund──▶ refund_pending
          ▲                          │                                             │
          └──── attempt failed ──────┘                          refunded | partially_refunded
    cancel / expiry ──▶ canceled | expired       (a capture after either still succeeds)

The status is not stored as the last word of whoever spoke last: it is worked out from
the facts recorded (which attempt captured what, which refunds succeeded, whether we
closed the intent), every time one is added. Facts only accumulate, so the same reports in
any order, any number of times, end in the same status, and:

- a late failure never undoes `succeeded`: captured money outranks every failure;
- a capture after `expired` or `canceled` still makes the payment `succeeded`, because the
  money is real; the purchasing context then fulfils it or asks for a refund;
- money the gateway took that cannot pay the intent (another amount or currency, or a
  second capture) never confirms anything: it is refunded in full at once, and while
  that refund is under way the payment is `refund_pending`, then `refunded` (or, if the
  intent was also paid properly, back to `succeeded`). An intent with such a wrong
  capture is closed to new attempts, since the gateway's word about it is in doubt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from runtime.instants import require_utc
from runtime.money import Money, parse_amount
from services.payment.domain import attempt as attempts
from services.payment.domain.attempt import Attempt
from services.payment.domain.errors import (
    AttemptInProgress,
    AttemptStillOpen,
    CheckoutAlreadyAttached,
    ExpiryNotInFuture,
    FieldTooLong,
    PaymentAlreadySettled,
    PaymentClosed,
    PaymentNotYetExpired,
    UnknownAttempt,
    UnknownRefund,
    WalletCannotPayTopUp,
)
from services.payment.domain.events import (
    Change,
    PaymentConfirmed,
    PaymentEvent,
    PaymentExpired,
    PaymentFailed,
    PurchaseVoided,
)
from services.payment.domain.ids import derived_id
from services.payment.domain.purchase import (
    MAX_TEXT,
    PayeeLine,
    PaymentMethod,
    Purchase,
    check_lines,
    require_text,
)
from services.payment.domain.refund import Refund, RefundStatus, total_of

PENDING, SUCCEEDED = RefundStatus.PENDING, RefundStatus.SUCCEEDED

MAX_URL = 2048
# How long an intent whose attempt the gateway never answered waits past its expiry
# before it is expired anyway; until then the reconciliation job keeps asking.
DEFAULT_PENDING_GRACE = timedelta(minutes=15)


class PaymentStatus(Enum):
    REQUIRES_PAYMENT = "requires_payment"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


# The statuses of a payment still waiting on someone (the patient, the gateway, a refund
# under way). Few payments are in them at any time, however long the history: they are
# what the periodic count reads (the rest are counted as they are entered).
WAITING_STATUSES = frozenset(
    {PaymentStatus.REQUIRES_PAYMENT, PaymentStatus.PROCESSING, PaymentStatus.REFUND_PENDING}
)

# The statuses of a payment that has money in it: none of them ever goes back to one
# that asks for payment.
CAPTURED_STATUSES = frozenset(
    {
        PaymentStatus.SUCCEEDED,
        PaymentStatus.REFUND_PENDING,
        PaymentStatus.REFUNDED,
        PaymentStatus.PARTIALLY_REFUNDED,
    }
)


class Closure(Enum):
    """Why nobat stopped taking attempts on an intent that was never paid."""

    CANCELED = "canceled"
    EXPIRED = "expired"


@dataclass
class Payment:
    id: str
    purchase: Purchase
    patient_id: str
    amount: Money
    lines: tuple[PayeeLine, ...]
    # The method of the latest attempt.
    method: PaymentMethod
    created_at: datetime
    expires_at: datetime
    return_url: str = ""
    description: str = ""
    status: PaymentStatus = PaymentStatus.REQUIRES_PAYMENT
    # Oldest first.
    attempts: list[Attempt] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    confirmed_attempt_id: str | None = None
    confirmed_at: datetime | None = None
    closure: Closure | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[PaymentEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        id: str,
        purchase: Purchase,
        patient_id: str,
        amount: Money,
        lines: Sequence[PayeeLine],
        method: PaymentMethod,
        created_at: datetime,
        expires_at: datetime,
        return_url: str = "",
        description: str = "",
    ) -> Payment:
        """A new intent, with nothing tried yet; every rule about its money is checked
        here, so nothing half-valid is ever stored."""
        require_text(id, "payment_id")
        require_text(patient_id, "patient_id")
        parse_amount(amount.amount_minor, amount.currency)
        check_lines(amount, lines, purchase, patient_id)
        if purchase.is_top_up and method is PaymentMethod.WALLET:
            raise WalletCannotPayTopUp(id)
        if require_utc(expires_at, "expires_at") <= require_utc(created_at, "created_at"):
            raise ExpiryNotInFuture()
        if len(return_url) > MAX_URL:
            raise FieldTooLong("return_url", MAX_URL)
        if len(description) > MAX_TEXT:
            raise FieldTooLong("description", MAX_TEXT)
        return cls(
            id=id,
            purchase=purchase,
            patient_id=patient_id,
            amount=amount,
            lines=tuple(lines),
            method=method,
            created_at=created_at,
            expires_at=expires_at,
            return_url=return_url,
            description=description,
            updated_at=created_at,
        )

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_attempt_id is not None

    @property
    def is_open(self) -> bool:
        """Still waiting to be paid: not paid, not closed by us, no capture in doubt."""
        return not self.is_confirmed and self.closure is None and not self.rejected_captures

    @property
    def rejected_captures(self) -> list[Attempt]:
        """Attempts whose money could not pay the intent and is refunded."""
        return [
            a for a in self.attempts if a.captured is not None and a.id != self.confirmed_attempt_id
        ]

    def takes_attempts(self, at: datetime) -> bool:
        """Whether a new attempt (RetryPayment) may start now."""
        return self.is_open and self.pending_attempt is None and at < self.expires_at

    @property
    def latest_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def pending_attempt(self) -> Attempt | None:
        return next((a for a in self.attempts if a.is_pending), None)

    @property
    def checkout_url(self) -> str:
        """The gateway page of the open attempt; empty for wallet payments and once settled."""
        pending = self.pending_attempt
        return pending.checkout_url if pending is not None and self.is_open else ""

    @property
    def sessions_to_expire(self) -> list[Attempt]:
        """Gateway sessions still open on an intent that takes no more payment: the handler
        expires them at the gateway, so a patient cannot pay twice (or pay a closed intent
        without reason). If one is paid anyway, the capture is honoured or refunded."""
        if self.is_open:
            return []
        return [a for a in self.attempts if a.is_pending and a.method is PaymentMethod.GATEWAY]

    @property
    def captured(self) -> Money | None:
        """What the confirming attempt captured: the payment's amount, once paid."""
        if self.confirmed_attempt_id is None:
            return None
        return self.attempt(self.confirmed_attempt_id).captured

    @property
    def refunded(self) -> Money:
        """Succeeded refunds of the confirmed capture."""
        return total_of(self.refunds, self.confirmed_attempt_id, self.currency, SUCCEEDED)

    @property
    def refundable(self) -> Money:
        """What may still be refunded of the confirmed capture."""
        if self.confirmed_attempt_id is None:
            return Money.zero(self.currency)
        return self.refundable_of(self.attempt(self.confirmed_attempt_id))

    def refundable_of(self, capture: Attempt) -> Money:
        """A capture, less its refunds succeeded or under way: pending ones count, so two
        refunds racing can never add up to more than was captured."""
        if capture.captured is None:
            return Money.zero(self.currency)
        currency = capture.captured.currency
        committed = total_of(self.refunds, capture.id, currency, SUCCEEDED, PENDING)
        return capture.captured - committed

    def confirmed_event(self) -> PaymentConfirmed:
        """The news of this payment's confirmation: when it happened, and whenever the
        orphan check tells it again."""
        if self.confirmed_attempt_id is None or self.confirmed_at is None:
            raise ValueError(f"payment {self.id} is not confirmed")
        attempt = self.attempt(self.confirmed_attempt_id)
        assert attempt.captured is not None
        return PaymentConfirmed(
            self.id,
            self.purchase,
            self.patient_id,
            attempt.captured,
            attempt.method,
            self.lines,
            attempt.id,
            attempt.gateway_ref,
            self.confirmed_at,
        )

    def repeat_confirmation(self) -> None:
        """Records the news of the confirmation once more, for the orphan check to tell a
        purchasing context that has not answered it."""
        self.events.append(self.confirmed_event())

    def void(self, reason: str, at: datetime) -> None:
        """Records that payment itself took the purchase back (its refund requested in the
        same change), so the purchasing context releases what was bought."""
        if self.confirmed_attempt_id is None:
            raise ValueError(f"payment {self.id} is not confirmed")
        self.events.append(PurchaseVoided(self.id, self.purchase, self.patient_id, reason, at))

    def attempt(self, attempt_id: str) -> Attempt:
        for attempt in self.attempts:
            if attempt.id == attempt_id:
                return attempt
        raise UnknownAttempt(self.id, attempt_id)

    def has_attempt_at(self, gateway_ref: str) -> bool:
        return bool(gateway_ref) and any(a.gateway_ref == gateway_ref for a in self.attempts)

    def attempt_at_gateway(self, gateway_ref: str) -> Attempt:
        for attempt in self.attempts:
            if gateway_ref and attempt.gateway_ref == gateway_ref:
                return attempt
        raise UnknownAttempt(self.id, gateway_ref)

    def refund(self, refund_id: str) -> Refund:
        for refund in self.refunds:
            if refund.id == refund_id:
                return refund
        raise UnknownRefund(self.id, refund_id)

    def start_attempt(self, method: PaymentMethod, at: datetime) -> Attempt:
        """A new try, for CreatePayment or RetryPayment. Gateway attempts then get their
        checkout session with `attach_checkout`; wallet attempts are paid with
        `wallet.pay_from_wallet`, which calls this."""
        if self.is_confirmed:
            raise PaymentAlreadySettled(self.id, self.status.value)
        if not self.is_open:
            raise PaymentClosed(self.id, self.status.value)
        if at >= self.expires_at:
            raise PaymentClosed(self.id, "past its expiry")
        pending = self.pending_attempt
        if pending is not None:
            raise AttemptInProgress(self.id, pending.id)
        if method is PaymentMethod.WALLET and self.purchase.is_top_up:
            raise WalletCannotPayTopUp(self.id)
        number = len(self.attempts) + 1
        attempt = Attempt(derived_id(self.id, "attempt", number), number, method, at)
        self.attempts.append(attempt)
        self.method = method
        self.restate(at)
        return attempt

    def attach_checkout(
        self, attempt_id: str, gateway_ref: str, checkout_url: str, at: datetime
    ) -> Change:
        """Records the gateway's session for an attempt. The gateway was asked with the
        attempt's id as idempotency key, so asking again returns the same session."""
        attempt = self.attempt(attempt_id)
        require_text(gateway_ref, "gateway_ref")
        if attempt.gateway_ref == gateway_ref and attempt.checkout_url == checkout_url:
            return Change.NONE
        if attempt.gateway_ref or attempt.method is not PaymentMethod.GATEWAY:
            raise CheckoutAlreadyAttached(attempt.id, attempt.gateway_ref or "wallet")
        attempt.gateway_ref = gateway_ref
        attempt.checkout_url = checkout_url
        self.restate(at)
        return Change.APPLIED

    def cancel(self, at: datetime) -> Change:
        """The purchase was called off before it was paid. Open gateway sessions are left
        to the gateway's word (see `sessions_to_expire`); a capture still honoured."""
        if self.is_confirmed:
            raise PaymentAlreadySettled(self.id, self.status.value)
        if self.closure is Closure.CANCELED:
            return Change.NONE
        if not self.is_open:
            raise PaymentClosed(self.id, self.status.value)
        self.closure = Closure.CANCELED
        self.closed_at = at
        latest = self.latest_attempt
        self.events.append(
            PaymentFailed(
                self.id,
                self.purchase,
                self.patient_id,
                latest.id if latest else "",
                self.method,
                attempts.CANCELED,
                False,
                at,
            )
        )
        self.restate(at)
        return Change.APPLIED

    def expire(self, at: datetime, pending_grace: timedelta = DEFAULT_PENDING_GRACE) -> Change:
        """Closes an intent never paid by its expiry. A payment already captured or closed
        has nothing to expire (the job lost a race): no change. An attempt the gateway
        has not answered for holds expiry back for `pending_grace`, since its answer
        may yet be a payment; the handler expires the gateway session first."""
        if not self.is_open:
            return Change.NONE
        if at < self.expires_at:
            raise PaymentNotYetExpired(self.id, self.expires_at)
        pending = self.pending_attempt
        if pending is not None and at < self.expires_at + pending_grace:
            raise AttemptStillOpen(self.id, pending.id, self.expires_at + pending_grace)
        self.closure = Closure.EXPIRED
        self.closed_at = at
        self.events.append(PaymentExpired(self.id, self.purchase, self.patient_id, at))
        self.restate(at)
        return Change.APPLIED

    def restate(self, at: datetime) -> None:
        """Works the status out again from the facts; every change ends with this."""
        self.status = self._derive_status()
        self.updated_at = at

    def _derive_status(self) -> PaymentStatus:
        owed_back = any(
            a.captured is not None
            and total_of(self.refunds, a.id, a.captured.currency, SUCCEEDED) < a.captured
            for a in self.rejected_captures
        )
        if owed_back or any(r.status is PENDING for r in self.refunds):
            return PaymentStatus.REFUND_PENDING
        if self.is_confirmed:
            refunded = self.refunded
            if refunded == self.captured:
                return PaymentStatus.REFUNDED
            if refunded.is_positive:
                return PaymentStatus.PARTIALLY_REFUNDED
            return PaymentStatus.SUCCEEDED
        if self.rejected_captures:
            return PaymentStatus.REFUNDED
        if self.closure is not None:
            return PaymentStatus(self.closure.value)
        if self.pending_attempt is not None:
            return PaymentStatus.PROCESSING
        return PaymentStatus.REQUIRES_PAYMENT
