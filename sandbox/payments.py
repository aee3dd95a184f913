"""The sandbox's books: checkout sessions with their payment intents, and refunds.

Every move is made here, whoever asks for it (the API, the hosted page, the control API
or a session's own timer), and each tells the webhooks what happened, as Stripe's events
do.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sandbox.errors import invalid_param, no_such, refused
from sandbox.forms import read_hash, read_int, read_metadata, read_str
from sandbox.objects import (
    CheckoutSession,
    LineItem,
    PaymentIntent,
    Refund,
    exact_now,
    new_id,
    now,
)
from sandbox.switches import Switches
from sandbox.webhooks import Webhooks

# Stripe refuses a session that lives longer than a day, or (by default) less than half
# an hour; tests shorten the least, to watch a session expire without waiting for it.
_LONGEST_SESSION = 24 * 3600
_DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
}
_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
_SESSION_PARAMS = {
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "metadata",
    "payment_intent_data",
    "expires_at",
    "expand",
}


class Payments:
    def __init__(
        self, switches: Switches, webhooks: Webhooks, public_url: str, min_expiry_seconds: int
    ) -> None:
        self.switches = switches
        self.webhooks = webhooks
        self.public_url = public_url.rstrip("/")
        self.min_expiry_seconds = min_expiry_seconds
        self.sessions: dict[str, CheckoutSession] = {}
        self.refunds: dict[str, Refund] = {}
        self._by_intent: dict[str, CheckoutSession] = {}
        # How often the API was asked for a session, as a gateway counts calls against a
        # merchant's rate limit.
        self.session_reads = 0

    def create_session(self, params: dict[str, Any]) -> CheckoutSession:
        read_hash(params, "", _SESSION_PARAMS)
        if params.get("mode") != "payment":
            raise invalid_param("mode", "The sandbox supports only mode=payment")
        items = _line_items(params.get("line_items"))
        currencies = {currency for currency, _ in items}
        if len(currencies) != 1:
            raise invalid_param("line_items", "All line items must be in one currency")
        created = now()
        expires_at = created + _LONGEST_SESSION
        if "expires_at" in params:
            expires_at = read_int(params["expires_at"], "expires_at")
            if not created + self.min_expiry_seconds <= expires_at <= created + _LONGEST_SESSION:
                raise invalid_param(
                    "expires_at",
                    f"The `expires_at` timestamp must be between {self.min_expiry_seconds} "
                    f"seconds and 24 hours from Checkout Session creation.",
                )
        intent_data = read_hash(
            params.get("payment_intent_data", {}), "payment_intent_data", {"metadata"}
        )
        line_items = [item for _, item in items]
        intent = PaymentIntent(
            new_id("pi"),
            sum(item.unit_amount * item.quantity for item in line_items),
            currencies.pop(),
            read_metadata(intent_data.get("metadata"), "payment_intent_data[metadata]"),
            created,
        )
        if intent.amount <= 0:
            raise invalid_param("line_items", "The total of a payment must be above zero")
        session_id = new_id("cs_test")
        session = CheckoutSession(
            session_id,
            intent,
            line_items,
            f"{self.public_url}/checkout/{session_id}",
            _url(params, "success_url"),
            _url(params, "cancel_url"),
            _optional_str(params, "client_reference_id"),
            read_metadata(params.get("metadata"), "metadata"),
            expires_at,
            created,
        )
        self.sessions[session.id] = session
        self._by_intent[intent.id] = session
        asyncio.get_running_loop().call_later(
            expires_at - exact_now(), self._expire_if_due, session
        )
        return session

    def session(self, session_id: str) -> CheckoutSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise no_such("checkout.session", session_id)
        # Checked on reading too: the timer set at creation may fire a little late.
        self._expire_if_due(session)
        return session

    def refund(self, refund_id: str) -> Refund:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise no_such("refund", refund_id)
        return refund

    def refunds_of(self, intent_id: str) -> list[Refund]:
        """The intent's refunds, newest first."""
        return [
            refund
            for refund in reversed(self.refunds.values())
            if refund.payment_intent == intent_id
        ]

    def expire(self, session_id: str) -> CheckoutSession:
        session = self._open(session_id)
        self._close(session, "expired")
        return session

    def pay(self, session_id: str, announce: bool = True) -> CheckoutSession:
        """The patient pays on the hosted page. Unless `announce`, the money is taken but
        no webhook tells of it: the gateway's message was lost."""
        session = self._open(session_id)
        intent = session.intent
        intent.status = "succeeded"
        intent.amount_received = intent.amount + self.switches.take_wrong_amount()
        intent.last_payment_error = None
        intent.latest_charge = new_id("ch")
        session.status = "complete"
        session.payment_status = "paid"
        session.charges += 1
        self._tell(session, "checkout.session.completed", session.to_json(), drop=not announce)
        return session

    def decline(self, session_id: str, decline_code: str = "generic_decline") -> CheckoutSession:
        """The card is declined; like Stripe, the session stays open for another try."""
        session = self._open(session_id)
        intent = session.intent
        intent.status = "requires_payment_method"
        intent.last_payment_error = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": decline_code,
            "message": _DECLINE_MESSAGES.get(decline_code, "Your card was declined."),
        }
        self._tell(session, "payment_intent.payment_failed", intent.to_json(), settled=False)
        return session

    def cancel(self, session_id: str) -> CheckoutSession:
        """The patient leaves the hosted page."""
        session = self._open(session_id)
        self._close(session, "abandoned")
        return session

    def create_refund(self, params: dict[str, Any]) -> Refund:
        read_hash(params, "", {"payment_intent", "amount", "metadata", "reason", "expand"})
        intent_id = read_str(params.get("payment_intent"), "payment_intent")
        session = self._by_intent.get(intent_id)
        if session is None:
            raise no_such("payment_intent", intent_id, "payment_intent")
        reason = params.get("reason")
        if reason is not None and reason not in _REFUND_REASONS:
            raise invalid_param("reason", f"Invalid reason: must be one of {_REFUND_REASONS}")
        metadata = read_metadata(params.get("metadata"), "metadata")
        intent = session.intent
        if intent.status != "succeeded" or intent.latest_charge is None:
            raise refused(
                "payment_intent_unexpected_state",
                f"This PaymentIntent ({intent.id}) does not have a successful charge to refund.",
            )
        amount = read_int(params["amount"], "amount") if "amount" in params else None
        if amount is not None and amount < 1:
            raise invalid_param("amount", "Refund amount must be at least 1", "amount_too_small")
        remaining = intent.amount_received - sum(
            refund.amount
            for refund in map(self.refunds.__getitem__, session.refunds)
            if refund.status != "failed"
        )
        if remaining == 0:
            raise refused(
                "charge_already_refunded",
                f"Charge {intent.latest_charge} has already been refunded.",
            )
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise refused(
                "amount_too_large",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                param="amount",
            )
        refund = Refund(
            new_id("re"),
            amount,
            intent.currency,
            intent.id,
            intent.latest_charge,
            metadata,
            reason,
            now(),
            session.id,
        )
        self.refunds[refund.id] = refund
        session.refunds.append(refund.id)
        self._tell_refund(refund, "refund.created")
        outcome = self.switches.refund_outcome
        delay = self.switches.refund_delay_seconds
        if delay:
            asyncio.get_running_loop().call_later(delay, self._end_refund, refund, outcome)
        else:
            self._end_refund(refund, outcome)
        return refund

    def _end_refund(self, refund: Refund, outcome: str) -> None:
        refund.status = outcome
        if outcome == "failed":
            refund.failure_reason = "declined"
        self._tell_refund(refund, "refund.updated")

    def _open(self, session_id: str) -> CheckoutSession:
        session = self.session(session_id)
        if session.status != "open":
            raise refused(
                "checkout_session_not_open",
                f"This Checkout Session is {session.status}: only an open session can be "
                "paid, declined, cancelled or expired.",
            )
        return session

    def _expire_if_due(self, session: CheckoutSession) -> None:
        if session.status == "open" and exact_now() >= session.expires_at:
            self._close(session, "expired")

    def _close(self, session: CheckoutSession, reason: str) -> None:
        session.status = "expired"
        session.intent.status = "canceled"
        session.intent.cancellation_reason = reason
        session.intent.canceled_at = now()
        self._tell(session, "checkout.session.expired", session.to_json())

    def _tell(
        self,
        session: CheckoutSession,
        event_type: str,
        snapshot: dict[str, Any],
        settled: bool = True,
        drop: bool = False,
    ) -> None:
        self.webhooks.publish(
            event_type, snapshot, session.id, group=session.id, settled=settled, drop=drop
        )

    def _tell_refund(self, refund: Refund, event_type: str) -> None:
        settled = refund.status != "pending"
        self.webhooks.publish(
            event_type, refund.to_json(), refund.session_id, group=refund.id, settled=settled
        )


def _line_items(value: Any) -> list[tuple[str, LineItem]]:
    if not isinstance(value, list) or not value:
        raise invalid_param(
            "line_items", "line_items is required in payment mode", "parameter_missing"
        )
    items = []
    for index, raw in enumerate(value):
        param = f"line_items[{index}]"
        item = read_hash(raw, param, {"price_data", "quantity"})
        price = read_hash(
            item.get("price_data"),
            f"{param}[price_data]",
            {"currency", "unit_amount", "product_data"},
        )
        product = read_hash(
            price.get("product_data"), f"{param}[price_data][product_data]", {"name", "description"}
        )
        currency = read_str(price.get("currency"), f"{param}[price_data][currency]").lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise invalid_param(f"{param}[price_data][currency]", f"Invalid currency: {currency}")
        unit_amount = read_int(price.get("unit_amount"), f"{param}[price_data][unit_amount]")
        quantity = read_int(item.get("quantity"), f"{param}[quantity]")
        if unit_amount < 0 or quantity < 1:
            raise invalid_param(param, "unit_amount must be at least 0 and quantity at least 1")
        name = read_str(product.get("name"), f"{param}[price_data][product_data][name]")
        items.append((currency, LineItem(name, unit_amount, quantity)))
    return items


def _url(params: dict[str, Any], name: str) -> str | None:
    url = _optional_str(params, name)
    if url is not None and not re.match(r"https?://", url):
        raise invalid_param(name, "Not a valid URL", "url_invalid")
    return url


def _optional_str(params: dict[str, Any], name: str) -> str | None:
    return read_str(params[name], name) if name in params else None
