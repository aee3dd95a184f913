"""The port to a payment gateway: what payment asks of it, in payment's own words.

The gateway is never trusted on the strength of a message: a webhook or a browser coming
back is a hint that makes payment read the truth (`read_checkout`, `read_refund`), and
only the truth moves a payment. Every call that creates something at the gateway carries
an idempotency key derived from nobat's own ids, so asking again after a lost answer
returns the first result instead of charging or refunding twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from runtime.money import Money
from services.payment.domain.acceptance import GatewayAcceptance
from services.payment.domain.disputes import DisputeTruth, FraudWarningTruth
from services.payment.domain.fees import GatewayFees
from services.payment.domain.settlement import GatewayRefundTruth, GatewayTruth


class GatewayUnavailable(Exception):
    """The gateway could not be reached or answered with a server error: try again later.
    Nothing may be concluded from it, least of all that a payment failed."""


class GatewayRefused(Exception):
    """The gateway understood the request and refused it (a 4xx other than a conflict)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidWebhook(Exception):
    """A webhook whose signature is missing, wrong or too old, or whose body is not an
    event: answered 400 and otherwise ignored. `verdict` says which, for the metrics: a
    run of `bad_signature` is a wrong secret or a forger, of `stale` a clock or a replay."""

    def __init__(self, message: str, verdict: str = "malformed") -> None:
        super().__init__(message)
        self.verdict = verdict


@dataclass(frozen=True)
class CheckoutRequest:
    # nobat's attempt id: the gateway's idempotency key and the session's reference.
    attempt_id: str
    payment_id: str
    patient_id: str
    amount: Money
    description: str
    # Where the hosted page sends the browser back to, paid or not.
    return_url: str
    # The session closes itself at this time (payment expires its intents too).
    expires_at: datetime


@dataclass(frozen=True)
class Checkout:
    # The gateway's session id (the attempt's gateway_ref).
    gateway_ref: str
    # The hosted page the patient pays on.
    checkout_url: str


@dataclass(frozen=True)
class RefundRequest:
    # nobat's refund id: the gateway's idempotency key, and carried in its metadata.
    refund_id: str
    payment_id: str
    # The checkout session whose charge is refunded.
    checkout_ref: str
    amount: Money
    reason: str
    # How long ago the refund was first asked for. A gateway that forgets idempotency
    # keys (Stripe, after 24 h) is asked whether it made one already only once it may have
    # forgotten this one: earlier, the key alone makes a repeat harmless.
    asked_since: timedelta = timedelta(0)


@dataclass(frozen=True)
class WebhookHint:
    """What a verified webhook points at; never what it claims happened."""

    event_id: str
    event_type: str
    # From the metadata nobat put on the session or refund; empty when the event is
    # about something nobat did not create.
    payment_id: str = ""
    # The checkout session it concerns, when known.
    checkout_ref: str = ""
    # nobat's refund id, for refund events.
    refund_id: str = ""
    # The gateway's dispute or early fraud warning an event is about: they carry none of
    # nobat's metadata, so the payment is found by reading them (`read_dispute`, ...).
    dispute_ref: str = ""
    fraud_warning_ref: str = ""

    @property
    def concerns_nobat(self) -> bool:
        """Whether the event may be about one of nobat's payments."""
        return bool(self.payment_id or self.dispute_ref or self.fraud_warning_ref)


class Gateway(Protocol):
    # The gateway's price list, for the ledger and payouts.
    fees: GatewayFees
    # The currencies and amounts it charges: payment refuses others before asking it.
    accepts: GatewayAcceptance

    async def create_checkout(self, request: CheckoutRequest) -> Checkout: ...

    async def read_checkout(self, checkout_ref: str) -> GatewayTruth: ...

    async def expire_checkout(self, checkout_ref: str) -> GatewayTruth:
        """Closes an open session so it can no longer be paid, and returns its truth after:
        a session paid just before is GatewayPaid, not an error."""
        ...

    async def create_refund(self, request: RefundRequest) -> GatewayRefundTruth: ...

    async def read_refund(self, refund_id: str, gateway_ref: str) -> GatewayRefundTruth:
        """The truth of a refund the gateway knows as `gateway_ref`; `refund_id` is nobat's
        id, which the truth reports. A refund whose create answer was lost has no
        gateway_ref: payment asks `create_refund` again with the same key instead."""
        ...

    async def read_dispute(self, gateway_ref: str) -> DisputeTruth:
        """A dispute's truth, with the payment it concerns (empty if not nobat's)."""
        ...

    async def read_fraud_warning(self, gateway_ref: str) -> FraudWarningTruth: ...

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookHint: ...
