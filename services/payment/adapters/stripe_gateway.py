"""The gateway port over Stripe's API, through the official SDK (`stripe`), async.

Pointed at Stripe by default, or at the sandbox gateway by `base_url`: the same code
serves both, which proves it against a real client library. Amounts pass through as
integer minor units both ways; Stripe's zero-decimal currencies (JPY, ...) count whole
units, as nobat's minor units for them do, so nothing is ever scaled.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import stripe

from runtime.money import Money
from services.payment.domain.acceptance import GatewayAcceptance
from services.payment.domain.disputes import (
    DisputeStatus,
    DisputeTruth,
    FraudWarningTruth,
)
from services.payment.domain.fees import STRIPE_LIKE_FEES, GatewayFees
from services.payment.domain.settlement import (
    GatewayCanceled,
    GatewayDeclined,
    GatewayExpired,
    GatewayOpen,
    GatewayPaid,
    GatewayProcessing,
    GatewayRefunded,
    GatewayRefundFailed,
    GatewayRefundPending,
    GatewayRefundTruth,
    GatewayTruth,
)
from services.payment.handlers.gateway import (
    Checkout,
    CheckoutRequest,
    GatewayRefused,
    GatewayUnavailable,
    InvalidWebhook,
    RefundRequest,
    WebhookHint,
)

# Stripe refuses a session that closes less than 30 minutes after it opens, and an
# intent may have less time left than that. Payment expires the session itself when the
# intent expires, so the session is given this much longer: the margin only bounds how
# long a session the expiry job missed stays payable. Derived from the request alone, it
# is the same on every retry, as the idempotency key requires.
SESSION_GRACE = timedelta(minutes=30)
# Stripe remembers an idempotency key for at least 24 h; an hour less leaves room for
# the two clocks' disagreement.
KEYS_REMEMBERED = timedelta(hours=23)
WEBHOOK_TOLERANCE_SECONDS = 300

# The events nobat's webhook endpoint needs, to be enabled on it in Stripe's dashboard (or
# `stripe listen --events ...`): each one names a payment whose truth payment then reads.
# Stripe sends more for these flows (payment_intent.created, charge.*, ...); they would
# only make payment read the same truth again. Disputes and fraud warnings name no
# payment of nobat's: payment reads them to find it.
WEBHOOK_EVENTS = (
    "checkout.session.completed",
    # A delayed method (a bank debit) settled: paid, or not.
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.payment_failed",
    "refund.created",
    "refund.updated",
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.closed",
    "radar.early_fraud_warning.created",
)
# Stripe's dispute statuses, by what they mean for the case (domain/disputes.py); an
# inquiry (`warning_*`) has taken no money.
_DISPUTE_STATUSES = {
    "warning_needs_response": DisputeStatus.OPEN,
    "warning_under_review": DisputeStatus.OPEN,
    "needs_response": DisputeStatus.OPEN,
    "under_review": DisputeStatus.OPEN,
    "appeal_needs_response": DisputeStatus.OPEN,
    "appeal_under_review": DisputeStatus.OPEN,
    "warning_closed": DisputeStatus.WON,
    "prevented": DisputeStatus.WON,
    "won": DisputeStatus.WON,
    "lost": DisputeStatus.LOST,
}

# What Stripe charges, for the currencies nobat knows (runtime.currency); Stripe takes no
# rials. Least amounts from Stripe's table of minimum charge amounts; where the table
# has none, Stripe asks for the equivalent of 0.50 USD, taken here generously rounded up
# (SAR, TRY, KWD, BHD, OMR) so that a rate's move does not turn into a gateway error.
# Three-decimal currencies go in tens of minor units. The sandbox follows the same rules
# (sandbox.currencies); a test holds the two together.
STRIPE_ACCEPTS = GatewayAcceptance(
    gateway="Stripe",
    minimum_minor={
        "USD": 50,
        "EUR": 50,
        "GBP": 30,
        "CHF": 50,
        "CAD": 50,
        "AUD": 50,
        "INR": 50,
        "AED": 200,
        "SAR": 200,
        "TRY": 3000,
        "JPY": 50,
        "KWD": 200,
        "BHD": 200,
        "OMR": 200,
    },
    maximum_minor=99_999_999,
    step_minor={"KWD": 10, "BHD": 10, "OMR": 10},
)

# Nothing can be concluded from these: no answer, a server error, a conflict (Stripe
# answers 409 to a request racing another with its key) or too many requests.
_TRY_LATER = (
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
    aiohttp.ClientError,
    TimeoutError,
)

T = TypeVar("T")


class StripeGateway:
    accepts = STRIPE_ACCEPTS

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        base_url: str | None = None,
        fees: GatewayFees = STRIPE_LIKE_FEES,
        max_network_retries: int = 2,
        timeout_seconds: float = 30.0,
    ) -> None:
        """`base_url` is Stripe's API unless given (the sandbox's `url`, say). The SDK
        retries a call that got no answer `max_network_retries` times, with the same
        idempotency key, before the call raises GatewayUnavailable."""
        self.fees = fees
        self._webhook_secret = webhook_secret
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=timeout_seconds))
        self._client = stripe.StripeClient(
            api_key,
            http_client=self._http,
            base_addresses={"api": base_url} if base_url else None,
            max_network_retries=max_network_retries,
        )

    async def close(self) -> None:
        await self._http.close_async()

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        nobat_ids = {
            "payment_id": request.payment_id,
            "attempt_id": request.attempt_id,
            "patient_id": request.patient_id,
        }
        params: Any = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": request.amount.currency.lower(),
                        "unit_amount": request.amount.amount_minor,
                        "product_data": {"name": request.description},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": _with_session_id(request.return_url),
            "cancel_url": request.return_url,
            "client_reference_id": request.attempt_id,
            "metadata": nobat_ids,
            "payment_intent_data": {"metadata": nobat_ids},
            "expires_at": int((request.expires_at + SESSION_GRACE).timestamp()),
        }
        session = await _ask(
            self._client.v1.checkout.sessions.create_async(
                params, {"idempotency_key": request.attempt_id}
            )
        )
        if session.url is None:
            # Only an embedded session has no page of its own; these are hosted ones.
            raise GatewayRefused("checkout_url_missing", f"session {session.id} has no page")
        return Checkout(gateway_ref=session.id, checkout_url=session.url)

    async def read_checkout(self, checkout_ref: str) -> GatewayTruth:
        session = await _ask(
            self._client.v1.checkout.sessions.retrieve_async(
                checkout_ref, {"expand": ["payment_intent"]}
            )
        )
        return _checkout_truth(session)

    async def expire_checkout(self, checkout_ref: str) -> GatewayTruth:
        try:
            session = await _ask(
                self._client.v1.checkout.sessions.expire_async(
                    checkout_ref, {"expand": ["payment_intent"]}
                )
            )
        except GatewayRefused:
            # Stripe expires only an open session: one paid or closed meanwhile is
            # refused, and its truth is what the caller needs.
            truth = await self.read_checkout(checkout_ref)
            if isinstance(truth, GatewayOpen):
                raise
            return truth
        return _checkout_truth(session)

    async def create_refund(self, request: RefundRequest) -> GatewayRefundTruth:
        session = await _ask(self._client.v1.checkout.sessions.retrieve_async(request.checkout_ref))
        intent = session.payment_intent
        if not isinstance(intent, str):
            raise GatewayRefused("nothing_to_refund", f"{session.id} has no payment to refund")
        if session.currency is None or session.currency.upper() != request.amount.currency:
            raise GatewayRefused(
                "currency_mismatch",
                f"{session.id} was paid in {session.currency}, not in {request.amount.currency}",
            )
        params: Any = {
            "payment_intent": intent,
            "amount": request.amount.amount_minor,
            # Stripe takes only its own reasons; nobat's travels in the metadata.
            "reason": "requested_by_customer",
            "metadata": {
                "refund_id": request.refund_id,
                "payment_id": request.payment_id,
                "reason": request.reason,
            },
        }
        # Stripe forgets an idempotency key after 24 h, so a refund asked again later
        # (its first answer lost, the payment service down meanwhile) would be made twice:
        # then one already made under this refund's id is found first. Within the day the
        # key alone is enough, and the list (a call, pages of it) is not asked for.
        if request.asked_since >= KEYS_REMEMBERED:
            made = await self._refund_made(intent, request.refund_id)
            if made is not None:
                return _refund_truth(made)
        refund = await _ask(
            self._client.v1.refunds.create_async(params, {"idempotency_key": request.refund_id})
        )
        return _refund_truth(refund)

    async def _refund_made(self, intent: str, refund_id: str) -> stripe.Refund | None:
        """The intent's refund made for `refund_id` (our metadata on it), if there is one."""
        params: Any = {"payment_intent": intent, "limit": 100}
        while True:
            page = await _ask(self._client.v1.refunds.list_async(params))
            for refund in page.data:
                metadata = refund.metadata.to_dict() if refund.metadata else {}
                if _text(metadata, "refund_id") == refund_id:
                    return refund
            if not page.has_more or not page.data:
                return None
            params = {**params, "starting_after": page.data[-1].id}

    async def read_refund(self, refund_id: str, gateway_ref: str) -> GatewayRefundTruth:
        refund = await _ask(self._client.v1.refunds.retrieve_async(gateway_ref))
        truth = _refund_truth(refund)
        if truth.refund_id != refund_id:
            raise GatewayRefused(
                "refund_mismatch", f"{gateway_ref} is refund {truth.refund_id!r}, not {refund_id!r}"
            )
        return truth

    async def read_dispute(self, gateway_ref: str) -> DisputeTruth:
        dispute = await _ask(
            self._client.v1.disputes.retrieve_async(gateway_ref, {"expand": ["payment_intent"]})
        )
        status = _DISPUTE_STATUSES.get(dispute.status)
        if status is None:
            raise GatewayRefused("dispute_status", f"{gateway_ref} is {dispute.status!r}")
        return DisputeTruth(
            gateway_ref=dispute.id,
            payment_id=_payment_of(dispute.payment_intent),
            amount=Money(dispute.amount, dispute.currency.upper()),
            reason=dispute.reason,
            status=status,
            withdrawn=not dispute.status.startswith("warning_"),
        )

    async def read_fraud_warning(self, gateway_ref: str) -> FraudWarningTruth:
        warning = await _ask(
            self._client.v1.radar.early_fraud_warnings.retrieve_async(
                gateway_ref, {"expand": ["payment_intent"]}
            )
        )
        return FraudWarningTruth(
            gateway_ref=warning.id,
            payment_id=_payment_of(warning.payment_intent),
            fraud_type=warning.fraud_type,
            actionable=warning.actionable,
        )

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookHint:
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
            # Read as plain JSON: the SDK's typed event objects are not needed for a hint,
            # and building them cost more than the rest of the webhook's reading.
            event = json.loads(payload)
        # A body that is not UTF-8 or not JSON is a ValueError.
        except ValueError as exc:
            raise InvalidWebhook(str(exc)) from exc
        except stripe.SignatureVerificationError as exc:
            # The SDK checks the age only of a signature that matched: a stale one is real.
            stale = str(exc).startswith("Timestamp outside the tolerance zone")
            raise InvalidWebhook(str(exc), "stale" if stale else "bad_signature") from exc
        if not isinstance(event, dict):
            raise InvalidWebhook("the body is not a Stripe event")
        data = event.get("data")
        found = data.get("object") if isinstance(data, dict) else None
        if not isinstance(found, dict) or not _text(event, "id") or not _text(event, "type"):
            raise InvalidWebhook("the body is not a Stripe event")
        metadata = found.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        kind = found.get("object")
        return WebhookHint(
            event_id=_text(event, "id"),
            event_type=_text(event, "type"),
            payment_id=_text(metadata, "payment_id"),
            checkout_ref=_text(found, "id") if kind == "checkout.session" else "",
            refund_id=_text(metadata, "refund_id") if kind == "refund" else "",
            dispute_ref=_text(found, "id") if kind == "dispute" else "",
            fraud_warning_ref=_text(found, "id") if kind == "radar.early_fraud_warning" else "",
        )


def _checkout_truth(session: stripe.checkout.Session) -> GatewayTruth:
    ref = session.id
    intent = session.payment_intent
    if not isinstance(intent, stripe.PaymentIntent):
        # Stripe creates the intent only when the patient first submits the page.
        intent = None
    if session.status == "complete" and session.payment_status == "paid":
        if intent is None:
            raise GatewayRefused("payment_intent_missing", f"paid session {ref} has no intent")
        # What was taken, which is not always what was asked.
        return GatewayPaid(ref, Money(intent.amount_received, intent.currency.upper()))
    failure = _failure(ref, intent)
    if session.status == "complete":
        # Complete but unpaid: a delayed method (a bank debit). Until the bank settles it
        # the intent is `processing`; a debit the bank refused leaves the intent asking
        # for a payment method, and this session can take no other: the attempt failed.
        return GatewayProcessing(ref) if failure is None else failure
    if session.status == "expired":
        abandoned = intent is not None and intent.cancellation_reason == "abandoned"
        return GatewayCanceled(ref) if abandoned else GatewayExpired(ref)
    # Open with a failure (a decline, a failed 3-D Secure challenge): the session stays
    # payable, as on Stripe, and a later capture on it still confirms the payment.
    return GatewayOpen(ref) if failure is None else failure


def _failure(ref: str, intent: stripe.PaymentIntent | None) -> GatewayDeclined | None:
    """The intent's last try failed, by the gateway's code: a card's decline code, or the
    error's own (`payment_intent_authentication_failure` for a failed 3-D Secure)."""
    if intent is None or intent.status != "requires_payment_method":
        return None
    if not intent.last_payment_error:
        return None
    error = intent.last_payment_error.to_dict()
    code = _text(error, "decline_code") or _text(error, "code") or "declined"
    return GatewayDeclined(ref, code, _text(error, "message"))


def _refund_truth(refund: stripe.Refund) -> GatewayRefundTruth:
    refund_id = _text(refund.metadata.to_dict() if refund.metadata else {}, "refund_id")
    if refund.status == "succeeded":
        return GatewayRefunded(refund_id, refund.id)
    if refund.status in ("failed", "canceled"):
        reason = refund.failure_reason or refund.status
        message = f"the gateway's refund {refund.id} {refund.status}: {reason}"
        return GatewayRefundFailed(refund_id, reason, message, refund.id)
    return GatewayRefundPending(refund_id, refund.id)


def _payment_of(intent: stripe.PaymentIntent | str | None) -> str:
    """nobat's payment id, from the metadata payment put on the (expanded) intent."""
    if not isinstance(intent, stripe.PaymentIntent) or not intent.metadata:
        return ""
    return _text(intent.metadata.to_dict(), "payment_id")


def _with_session_id(return_url: str) -> str:
    """The return URL with Stripe's placeholder for the session id in its query, left
    unencoded: Stripe fills in `{CHECKOUT_SESSION_ID}` only as written."""
    parts = urlsplit(return_url)
    query = (parts.query + "&" if parts.query else "") + "session_id={CHECKOUT_SESSION_ID}"
    return urlunsplit(parts._replace(query=query))


def _text(mapping: dict[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""


async def _ask(call: Awaitable[T]) -> T:
    """The SDK's errors in the port's words."""
    try:
        return await call
    except _TRY_LATER as exc:
        raise GatewayUnavailable(str(exc)) from exc
    except stripe.StripeError as exc:
        code = exc.code or getattr(exc.error, "type", None) or "refused"
        raise GatewayRefused(code, exc.user_message or str(exc)) from exc
