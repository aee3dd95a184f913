"""The gateway port over Stripe's API, through the official SDK (`stripe`), async.

Pointed at Stripe by default, or at the sandbox gateway by `base_url`: the same code
serves both, which proves it against a real client library. Amounts pass through as
integer minor units both ways; Stripe's zero-decimal currencies (JPY, ...) count whole
units, as nobat's minor units for them do, so nothing is ever scaled.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote_plus, urlsplit, urlunsplit

import aiohttp
import stripe

# Imported by name, not read as `stripe.WebhookSignature` per webhook: the SDK's package
# finds its names lazily, with a module import each time one is read.
from stripe import SignatureVerificationError, StripeError, WebhookSignature

from runtime.errors import InvalidArgument
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
# What Stripe answers with: a JSON object, read as it came.
Answer = dict[str, Any]


class MalformedAnswer(GatewayRefused):
    """Stripe answered, but not with what its API documents (a field missing, null or of
    another type): nothing can be read from it."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed_answer", message)


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
        # The SDK's telemetry (Stripe's documented opt-out; a switch of the whole SDK, not
        # of a client) tells Stripe, with every request, how long the one before took and
        # on what platform: a JSON header built per call, for Stripe's use only. Payment
        # times its gateway calls itself (nobat_gateway_call_duration_seconds).
        stripe.enable_telemetry = False
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=timeout_seconds))
        self._client = stripe.StripeClient(
            api_key,
            http_client=self._http,
            base_addresses={"api": base_url} if base_url else None,
            max_network_retries=max_network_retries,
        )

    async def close(self) -> None:
        await self._http.close_async()

    async def _call(self, method: str, path: str, **params: Any) -> Answer:
        """Stripe's answer as plain JSON. The SDK still authenticates, retries with the
        idempotency key (`idempotency_key=` among `params`, else one of its own for a
        POST) and raises its errors for a 4xx or 5xx; only its typed objects are skipped:
        building them for a session with its expanded intent cost payment more CPU than
        the rest of a webhook's reading."""
        # The SDK's errors in the port's words.
        try:
            answer = await self._client.raw_request_async(method, path, **params)
        except _TRY_LATER as exc:
            raise GatewayUnavailable(str(exc)) from exc
        except StripeError as exc:
            code = exc.code or getattr(exc.error, "type", None) or "refused"
            raise GatewayRefused(code, exc.user_message or str(exc)) from exc
        if not isinstance(answer.data, dict):
            kind = type(answer.data).__name__
            raise MalformedAnswer(f"{method.upper()} {path} answered a {kind}, not an object")
        return answer.data

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        nobat_ids = {
            "payment_id": request.payment_id,
            "attempt_id": request.attempt_id,
            "patient_id": request.patient_id,
        }
        session = await self._call(
            "post",
            "/v1/checkout/sessions",
            idempotency_key=request.attempt_id,
            mode="payment",
            line_items=[
                {
                    "price_data": {
                        "currency": request.amount.currency.lower(),
                        "unit_amount": request.amount.amount_minor,
                        "product_data": {"name": request.description},
                    },
                    "quantity": 1,
                }
            ],
            success_url=_with_session_id(request.return_url),
            cancel_url=request.return_url,
            client_reference_id=request.attempt_id,
            metadata=nobat_ids,
            payment_intent_data={"metadata": nobat_ids},
            expires_at=int((request.expires_at + SESSION_GRACE).timestamp()),
        )
        ref = _field(session, "id", str)
        url = _optional(session, "url", str)
        if url is None:
            # Only an embedded session has no page of its own; these are hosted ones.
            raise GatewayRefused("checkout_url_missing", f"session {ref} has no page")
        return Checkout(gateway_ref=ref, checkout_url=url)

    async def read_checkout(self, checkout_ref: str) -> GatewayTruth:
        session = await self._call(
            "get", f"/v1/checkout/sessions/{_quoted(checkout_ref)}", expand=["payment_intent"]
        )
        return _checkout_truth(session)

    async def expire_checkout(self, checkout_ref: str) -> GatewayTruth:
        try:
            session = await self._call(
                "post",
                f"/v1/checkout/sessions/{_quoted(checkout_ref)}/expire",
                expand=["payment_intent"],
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
        try:
            return await self._refund(request)
        except MalformedAnswer as exc:
            # A refusal would record the refund as failed and let another be made, while
            # Stripe may have made this one: an answer that cannot be read is "ask again
            # later", with the same key.
            raise GatewayUnavailable(str(exc)) from exc

    async def _refund(self, request: RefundRequest) -> GatewayRefundTruth:
        ref = request.checkout_ref
        session = await self._call("get", f"/v1/checkout/sessions/{_quoted(ref)}")
        intent = session.get("payment_intent")
        if not isinstance(intent, str):
            raise GatewayRefused("nothing_to_refund", f"{ref} has no payment to refund")
        currency = _optional(session, "currency", str)
        if currency is None or currency.upper() != request.amount.currency:
            raise GatewayRefused(
                "currency_mismatch",
                f"{ref} was paid in {currency}, not in {request.amount.currency}",
            )
        # Stripe forgets an idempotency key after 24 h, so a refund asked again later
        # (its first answer lost, the payment service down meanwhile) would be made twice:
        # then one already made under this refund's id is found first. Within the day the
        # key alone is enough, and the list (a call, pages of it) is not asked for.
        refund = None
        if request.asked_since >= KEYS_REMEMBERED:
            refund = await self._refund_made(intent, request.refund_id)
        if refund is None:
            refund = await self._call(
                "post",
                "/v1/refunds",
                idempotency_key=request.refund_id,
                payment_intent=intent,
                amount=request.amount.amount_minor,
                # Stripe takes only its own reasons; nobat's travels in the metadata.
                reason="requested_by_customer",
                metadata={
                    "refund_id": request.refund_id,
                    "payment_id": request.payment_id,
                    "reason": request.reason,
                },
            )
        return _refund_truth(refund)

    async def _refund_made(self, intent: str, refund_id: str) -> Answer | None:
        """The intent's refund made for `refund_id` (our metadata on it), if there is one."""
        after: dict[str, str] = {}
        while True:
            page = await self._call("get", "/v1/refunds", payment_intent=intent, limit=100, **after)
            refunds = _field(page, "data", list)
            for refund in refunds:
                if _text(_metadata(refund), "refund_id") == refund_id:
                    return refund
            if not _field(page, "has_more", bool) or not refunds:
                return None
            after = {"starting_after": _field(refunds[-1], "id", str)}

    async def read_refund(self, refund_id: str, gateway_ref: str) -> GatewayRefundTruth:
        refund = await self._call("get", f"/v1/refunds/{_quoted(gateway_ref)}")
        truth = _refund_truth(refund)
        if truth.refund_id != refund_id:
            raise GatewayRefused(
                "refund_mismatch", f"{gateway_ref} is refund {truth.refund_id!r}, not {refund_id!r}"
            )
        return truth

    async def read_dispute(self, gateway_ref: str) -> DisputeTruth:
        dispute = await self._call(
            "get", f"/v1/disputes/{_quoted(gateway_ref)}", expand=["payment_intent"]
        )
        stripe_status = _field(dispute, "status", str)
        status = _DISPUTE_STATUSES.get(stripe_status)
        if status is None:
            raise GatewayRefused("dispute_status", f"{gateway_ref} is {stripe_status!r}")
        return DisputeTruth(
            gateway_ref=_field(dispute, "id", str),
            payment_id=_payment_of(dispute),
            amount=_money(dispute, "amount"),
            reason=_field(dispute, "reason", str),
            status=status,
            withdrawn=not stripe_status.startswith("warning_"),
        )

    async def read_fraud_warning(self, gateway_ref: str) -> FraudWarningTruth:
        warning = await self._call(
            "get",
            f"/v1/radar/early_fraud_warnings/{_quoted(gateway_ref)}",
            expand=["payment_intent"],
        )
        return FraudWarningTruth(
            gateway_ref=_field(warning, "id", str),
            payment_id=_payment_of(warning),
            fraud_type=_field(warning, "fraud_type", str),
            actionable=_field(warning, "actionable", bool),
        )

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookHint:
        try:
            WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
            # Read as plain JSON, as every answer is: the SDK's typed event objects are
            # not needed for a hint.
            event = json.loads(payload)
        # A body that is not UTF-8 or not JSON is a ValueError.
        except ValueError as exc:
            raise InvalidWebhook(str(exc)) from exc
        except SignatureVerificationError as exc:
            # The SDK checks the age only of a signature that matched: a stale one is real.
            stale = str(exc).startswith("Timestamp outside the tolerance zone")
            raise InvalidWebhook(str(exc), "stale" if stale else "bad_signature") from exc
        if not isinstance(event, dict):
            raise InvalidWebhook("the body is not a Stripe event")
        data = event.get("data")
        found = data.get("object") if isinstance(data, dict) else None
        if not isinstance(found, dict) or not _text(event, "id") or not _text(event, "type"):
            raise InvalidWebhook("the body is not a Stripe event")
        metadata = _metadata(found)
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


def _checkout_truth(session: Answer) -> GatewayTruth:
    ref = _field(session, "id", str)
    status = _field(session, "status", str)
    # Stripe creates the intent only when the patient first submits the page; until then
    # it is null, and expanded it is an object.
    intent = _expanded(session, "payment_intent")
    if status == "complete" and _field(session, "payment_status", str) == "paid":
        if intent is None:
            raise GatewayRefused("payment_intent_missing", f"paid session {ref} has no intent")
        # What was taken, which is not always what was asked.
        return GatewayPaid(ref, _money(intent, "amount_received"))
    failure = _failure(ref, intent)
    if status == "complete":
        # Complete but unpaid: a delayed method (a bank debit). Until the bank settles it
        # the intent is `processing`; a debit the bank refused leaves the intent asking
        # for a payment method, and this session can take no other: the attempt failed.
        return GatewayProcessing(ref) if failure is None else failure
    if status == "expired":
        abandoned = (
            intent is not None and _optional(intent, "cancellation_reason", str) == "abandoned"
        )
        return GatewayCanceled(ref) if abandoned else GatewayExpired(ref)
    # Open with a failure (a decline, a failed 3-D Secure challenge): the session stays
    # payable, as on Stripe, and a later capture on it still confirms the payment.
    return GatewayOpen(ref) if failure is None else failure


def _failure(ref: str, intent: Answer | None) -> GatewayDeclined | None:
    """The intent's last try failed, by the gateway's code: a card's decline code, or the
    error's own (`payment_intent_authentication_failure` for a failed 3-D Secure)."""
    if intent is None or _field(intent, "status", str) != "requires_payment_method":
        return None
    error = _optional(intent, "last_payment_error", dict)
    if not error:
        return None
    code = _text(error, "decline_code") or _text(error, "code") or "declined"
    return GatewayDeclined(ref, code, _text(error, "message"))


def _refund_truth(refund: Answer) -> GatewayRefundTruth:
    refund_id = _text(_metadata(refund), "refund_id")
    gateway_ref = _field(refund, "id", str)
    status = _field(refund, "status", str)
    if status == "succeeded":
        return GatewayRefunded(refund_id, gateway_ref)
    if status in ("failed", "canceled"):
        reason = _optional(refund, "failure_reason", str) or status
        message = f"the gateway's refund {gateway_ref} {status}: {reason}"
        return GatewayRefundFailed(refund_id, reason, message, gateway_ref)
    return GatewayRefundPending(refund_id, gateway_ref)


def _payment_of(found: Answer) -> str:
    """nobat's payment id, from the metadata payment put on the (expanded) intent that a
    dispute or a fraud warning names; "" for an intent that is not nobat's."""
    return _text(_metadata(found.get("payment_intent")), "payment_id")


def _with_session_id(return_url: str) -> str:
    """The return URL with Stripe's placeholder for the session id in its query, left
    unencoded: Stripe fills in `{CHECKOUT_SESSION_ID}` only as written."""
    parts = urlsplit(return_url)
    query = (parts.query + "&" if parts.query else "") + "session_id={CHECKOUT_SESSION_ID}"
    return urlunsplit(parts._replace(query=query))


def _quoted(object_id: str) -> str:
    """An id as one segment of a path, as the SDK writes it: an id with a slash or a
    question mark in it names nothing else."""
    return quote_plus(object_id)


def _text(mapping: dict[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""


def _metadata(found: object) -> dict[str, Any]:
    """An object's metadata; none (or no object) reads as empty, as it does on an object
    that nobat did not make."""
    metadata = found.get("metadata") if isinstance(found, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _field(found: object, key: str, kind: type[T]) -> T:
    """A field Stripe documents as always there, of its documented type; anything else is
    refused by name here rather than failing as a KeyError further on. A JSON boolean is
    not a number."""
    if not isinstance(found, dict):
        raise MalformedAnswer(f"{found!r} is not an object")
    value = found.get(key)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    name = f"{found.get('object', 'object')} {found.get('id', '')}".rstrip()
    raise MalformedAnswer(f"{name} has {key}={value!r}, not a {kind.__name__}")


def _optional(found: Answer, key: str, kind: type[T]) -> T | None:
    """A field Stripe may leave null."""
    return None if found.get(key) is None else _field(found, key, kind)


def _expanded(found: Answer, key: str) -> Answer | None:
    """An expandable field's object; None while it is null or given as an id only."""
    return None if isinstance(found.get(key), str) else _optional(found, key, dict)


def _money(found: Answer, amount_key: str) -> Money:
    amount = _field(found, amount_key, int)
    currency = _field(found, "currency", str).upper()
    try:
        return Money(amount, currency)
    except (InvalidArgument, OverflowError) as exc:
        raise MalformedAnswer(f"{amount} {currency} is not an amount nobat can hold") from exc
