"""The sandbox's objects, each rendered as the JSON Stripe gives for it."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

_ID_ALPHABET = (string.ascii_letters + string.digits).encode()
_ID_LENGTH = 24
# An id is drawn from one read of random bytes, not a read a character: each byte below
# _USABLE (248, a multiple of 62) maps to a character, every one equally likely, and the
# bytes above are left out, so no character is likelier than another.
_USABLE = 256 - 256 % len(_ID_ALPHABET)
_TO_CHARACTER = bytes(_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in range(_USABLE)) + bytes(
    256 - _USABLE
)
_UNUSABLE = bytes(range(_USABLE, 256))


def new_id(prefix: str) -> str:
    characters = b""
    while len(characters) < _ID_LENGTH:
        characters += secrets.token_bytes(32).translate(_TO_CHARACTER, _UNUSABLE)
    return f"{prefix}_{characters[:_ID_LENGTH].decode()}"


class Clock:
    """The sandbox's time: the real one moved by `shift` seconds, the tests' moved clock
    (runtime.instants.CLOCK_SHIFT_SETTING), so sessions live on the services' time.
    Everything that ages (sessions, idempotency keys, event timestamps) reads this one
    clock, so a test can hand in its own and move it instead of waiting."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift

    def exact_now(self) -> float:
        return time.time() + self.shift

    def now(self) -> int:
        return int(self.exact_now())


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
    # What the patient must do before the payment can go on (a 3-D Secure challenge);
    # set while the intent `requires_action`.
    next_action: dict[str, Any] | None = None

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
            "next_action": self.next_action,
            "metadata": dict(self.metadata),
            "created": self.created,
            "livemode": False,
        }


@dataclass
class Charge:
    """One try at taking the money: succeeded (Pay) or failed (Decline), or pending while
    a delayed method (a bank debit) is settled."""

    id: str
    amount: int
    currency: str
    payment_intent: str
    # Stripe copies the intent's metadata onto its charges.
    metadata: dict[str, str]
    created: int
    status: str
    failure_code: str | None = None
    failure_message: str | None = None
    amount_refunded: int = 0
    # The dispute opened on it, if the cardholder's bank opened one, and whether the bank
    # holds its money (a chargeback not won), which Stripe refuses to refund.
    dispute: str | None = None
    charged_back: bool = False

    def to_json(self) -> dict[str, Any]:
        succeeded = self.status == "succeeded"
        return {
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount if succeeded else 0,
            "amount_refunded": self.amount_refunded,
            "captured": succeeded,
            "currency": self.currency,
            "status": self.status,
            "paid": succeeded,
            "refunded": succeeded and self.amount_refunded == self.amount,
            "disputed": self.dispute is not None,
            "failure_code": self.failure_code,
            "failure_message": self.failure_message,
            "payment_intent": self.payment_intent,
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
    currency: str
    line_items: list[LineItem]
    # The hosted page's address while the session is open; Stripe gives null after.
    page_url: str
    success_url: str | None
    cancel_url: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    # What the payment intent is made with once the page is first submitted.
    intent_metadata: dict[str, str]
    expires_at: int
    created: int
    status: str = "open"
    payment_status: str = "unpaid"
    # None until the patient first submits the page, as on Stripe.
    intent: PaymentIntent | None = None
    # How many times money was taken on this session; anything but 0 or 1 is a bug.
    charges: int = 0
    refunds: list[str] = field(default_factory=list)

    @property
    def amount_total(self) -> int:
        return sum(item.unit_amount * item.quantity for item in self.line_items)

    @property
    def description(self) -> str:
        return ", ".join(item.name for item in self.line_items)

    @property
    def url(self) -> str | None:
        return self.page_url if self.status == "open" else None

    def to_json(self, expand_intent: bool = False) -> dict[str, Any]:
        intent: dict[str, Any] | str | None = None
        if self.intent is not None:
            intent = self.intent.to_json() if expand_intent else self.intent.id
        return {
            "id": self.id,
            "object": "checkout.session",
            "mode": "payment",
            "url": self.url,
            "status": self.status,
            "payment_status": self.payment_status,
            "amount_subtotal": self.amount_total,
            "amount_total": self.amount_total,
            "currency": self.currency,
            "client_reference_id": self.client_reference_id,
            "metadata": dict(self.metadata),
            "payment_intent": intent,
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
        refund = {
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "payment_intent": self.payment_intent,
            "charge": self.charge,
            "metadata": dict(self.metadata),
            "reason": self.reason,
            "created": self.created,
        }
        # Stripe leaves the field out, rather than null, on a refund that did not fail.
        if self.failure_reason is not None:
            refund["failure_reason"] = self.failure_reason
        return refund


# A dispute the bank is still deciding; `warning_*` are inquiries (retrievals), which
# take no money until the bank turns them into a chargeback.
OPEN_DISPUTE_STATUSES = ("needs_response", "under_review", "warning_needs_response")


@dataclass
class Dispute:
    """A cardholder's bank disputing a charge: Stripe takes the amount back from the
    merchant's balance while it lasts (not for an inquiry), and returns it if won."""

    id: str
    amount: int
    currency: str
    charge: str
    payment_intent: str
    reason: str
    created: int
    # Stripe's deadline for the merchant's evidence.
    due_by: int
    status: str = "needs_response"

    @property
    def inquiry(self) -> bool:
        return self.status.startswith("warning_")

    def to_json(self, intent: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": [],
            "charge": self.charge,
            "currency": self.currency,
            "evidence": {"product_description": None, "uncategorized_text": None},
            "evidence_details": {
                "due_by": self.due_by,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
                "submission_method": "not_submitted",
            },
            "is_charge_refundable": self.inquiry,
            "metadata": {},
            "network_reason_code": None,
            "payment_intent": intent if intent is not None else self.payment_intent,
            "reason": self.reason,
            "status": self.status,
            "created": self.created,
            "livemode": False,
        }


@dataclass
class EarlyFraudWarning:
    """Radar's early warning that a charge was fraudulent, usually before a dispute."""

    id: str
    charge: str
    payment_intent: str
    fraud_type: str
    # Whether refunding it could still head off a dispute.
    actionable: bool
    created: int

    def to_json(self, intent: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "radar.early_fraud_warning",
            "actionable": self.actionable,
            "charge": self.charge,
            "fraud_type": self.fraud_type,
            "payment_intent": intent if intent is not None else self.payment_intent,
            "created": self.created,
            "livemode": False,
        }
