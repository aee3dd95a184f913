"""The sandbox's books: checkout sessions with their payment intents, and refunds.

Every move is made here, whoever asks for it (the API, the hosted page, the control API
or a session's own timer), and each tells the webhooks what happened, as Stripe's events
do.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
from collections.abc import Callable
from typing import Any

from sandbox.currencies import THREE_DECIMAL, check_amount, check_currency
from sandbox.errors import StripeError, invalid_param, no_such, refused
from sandbox.forms import read_hash, read_int, read_metadata, read_str
from sandbox.objects import (
    Charge,
    CheckoutSession,
    Clock,
    LineItem,
    PaymentIntent,
    Refund,
    new_id,
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
_AUTHENTICATION_FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide "
    "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)
_DEBIT_FAILED = "The customer's bank did not pay the debit."
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
        self,
        switches: Switches,
        webhooks: Webhooks,
        public_url: str,
        min_expiry_seconds: int,
        clock: Clock,
    ) -> None:
        self.switches = switches
        self.webhooks = webhooks
        self.public_url = public_url.rstrip("/")
        self.min_expiry_seconds = min_expiry_seconds
        self.clock = clock
        self.sessions: dict[str, CheckoutSession] = {}
        self.refunds: dict[str, Refund] = {}
        self._charges: dict[str, Charge] = {}
        self._by_intent: dict[str, CheckoutSession] = {}
        # How often the API was asked for a session, as a gateway counts calls against a
        # merchant's rate limit.
        self.session_reads = 0
        # How often a payment intent's refunds were listed (a call a client makes only when
        # it may have lost track of one).
        self.refund_lists = 0

    def create_session(self, params: dict[str, Any]) -> CheckoutSession:
        read_hash(params, "", _SESSION_PARAMS)
        if params.get("mode") != "payment":
            raise invalid_param("mode", "The sandbox supports only mode=payment")
        items = _line_items(params.get("line_items"))
        currencies = {currency for currency, _ in items}
        if len(currencies) != 1:
            raise invalid_param("line_items", "All line items must be in one currency")
        currency = currencies.pop()
        line_items = [item for _, item in items]
        check_amount(currency, sum(i.unit_amount * i.quantity for i in line_items), "line_items")
        created = self.clock.now()
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
        session_id = new_id("cs_test")
        session = CheckoutSession(
            session_id,
            currency,
            line_items,
            f"{self.public_url}/checkout/{session_id}",
            _url(params, "success_url"),
            _url(params, "cancel_url"),
            _optional_str(params, "client_reference_id"),
            read_metadata(params.get("metadata"), "metadata"),
            read_metadata(intent_data.get("metadata"), "payment_intent_data[metadata]"),
            expires_at,
            created,
        )
        self.sessions[session.id] = session
        self._later(expires_at - self.clock.exact_now(), self._expire_if_due, session)
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

    def charge(self, charge_id: str) -> Charge:
        charge = self._charges.get(charge_id)
        if charge is None:
            raise no_such("charge", charge_id)
        return charge

    def paid_charge(self, session_id: str) -> tuple[CheckoutSession, Charge]:
        """A paid session and the charge that paid it: what a bank can dispute."""
        session = self.session(session_id)
        intent = session.intent
        if session.payment_status != "paid" or intent is None or intent.latest_charge is None:
            raise refused(None, f"Checkout Session {session.id} has no paid charge.")
        return session, self._charges[intent.latest_charge]

    def intent_json(self, intent_id: str) -> dict[str, Any]:
        intent = self._by_intent[intent_id].intent
        assert intent is not None
        return intent.to_json()

    def expire(self, session_id: str) -> CheckoutSession:
        session = self.session(session_id)
        if session.status != "open":
            raise refused(
                None,
                'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f"Checkout Session has a status of `{session.status}`.",
            )
        self._close(session, "expired")
        return session

    def pay(self, session_id: str, announce: bool = True) -> CheckoutSession:
        """The patient pays on the hosted page. Unless `announce`, the money is taken but
        no webhook tells of it: the gateway's messages were lost."""
        session = self._submitted(session_id, drop=not announce)
        return self._take(session, announce)

    def decline(self, session_id: str, decline_code: str = "generic_decline") -> CheckoutSession:
        """The card is declined; like Stripe, the session stays open for another try."""
        session = self._submitted(session_id)
        intent = session.intent
        assert intent is not None
        message = _DECLINE_MESSAGES.get(decline_code, "Your card was declined.")
        charge = self._charge(intent, intent.amount, "failed", "card_declined", message)
        self.tell(session, "charge.failed", charge.to_json(), settled=False)
        self._fail(
            session,
            {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": message,
                "charge": charge.id,
            },
        )
        return session

    def challenge(self, session_id: str) -> CheckoutSession:
        """The card asks for 3-D Secure: the intent `requires_action`, its `next_action`
        the bank's challenge, until `authenticate` ends it. The session stays open."""
        session = self._submitted(session_id)
        intent = session.intent
        assert intent is not None
        intent.status = "requires_action"
        intent.last_payment_error = None
        intent.next_action = {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": f"{session.page_url}/challenge", "return_url": None},
        }
        self.tell(session, "payment_intent.requires_action", intent.to_json(), settled=False)
        return session

    def authenticate(self, session_id: str, passed: bool) -> CheckoutSession:
        """The patient passes or fails the bank's challenge. Passed, the card is charged;
        failed, as on Stripe, nothing is charged, the intent asks for a payment method
        again with `payment_intent_authentication_failure`, and the session stays open."""
        session = self._open(session_id)
        intent = session.intent
        if intent is None or intent.status != "requires_action":
            raise refused(
                "payment_intent_unexpected_state",
                "This Checkout Session has no 3-D Secure challenge under way.",
            )
        if passed:
            return self._take(session, announce=True)
        self._fail(
            session,
            {
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": _AUTHENTICATION_FAILED,
            },
        )
        return session

    def pay_later(self, session_id: str) -> CheckoutSession:
        """The patient pays by a delayed method (a SEPA or bank debit): the session is
        complete but unpaid and its intent `processing` until the bank settles it
        (`settle`): by the control API or, under `delayed_settle_seconds`, a timer."""
        session = self._submitted(session_id)
        intent = session.intent
        assert intent is not None
        charge = self._charge(intent, intent.amount, "pending")
        intent.status = "processing"
        intent.last_payment_error = None
        intent.next_action = None
        session.status = "complete"
        self.tell(session, "charge.pending", charge.to_json(), settled=False)
        self.tell(session, "payment_intent.processing", intent.to_json(), settled=False)
        self.tell(session, "checkout.session.completed", session.to_json(), settled=False)
        delay = self.switches.delayed_settle_seconds
        if delay:
            outcome = self.switches.delayed_outcome
            self._later(delay, self._settle_when_due, session.id, outcome)
        return session

    def settle(
        self, session_id: str, succeeded: bool, failure_code: str = "insufficient_funds"
    ) -> CheckoutSession:
        """The bank settles a delayed payment: the money arrives, or the debit fails
        (`failure_code` on the charge) and the intent asks for a payment method again.
        Either way the session stays complete, as on Stripe; only its events differ."""
        session = self.session(session_id)
        intent = session.intent
        if session.status != "complete" or intent is None or intent.status != "processing":
            raise refused(
                "payment_intent_unexpected_state",
                "This Checkout Session has no delayed payment waiting to be settled.",
            )
        assert intent.latest_charge is not None
        charge = self._charges[intent.latest_charge]
        if succeeded:
            charge.status = "succeeded"
            return self._take(session, True, charge, "checkout.session.async_payment_succeeded")
        charge.status = "failed"
        charge.failure_code = failure_code
        charge.failure_message = _DEBIT_FAILED
        self.tell(session, "charge.failed", charge.to_json(), settled=False)
        self._fail(
            session,
            {
                "type": "invalid_request_error",
                "code": "payment_intent_payment_attempt_failed",
                "message": f"{_DEBIT_FAILED} ({failure_code})",
                "charge": charge.id,
            },
        )
        self.tell(session, "checkout.session.async_payment_failed", session.to_json())
        return session

    def _settle_when_due(self, session_id: str, outcome: str) -> None:
        # The control API may have settled it first; the bank settles once.
        with contextlib.suppress(StripeError):
            self.settle(session_id, outcome == "succeeded")

    def _take(
        self,
        session: CheckoutSession,
        announce: bool,
        charge: Charge | None = None,
        last_event: str = "checkout.session.completed",
    ) -> CheckoutSession:
        """The money is taken: by a new charge (a card), or by `charge` (a debit the bank
        settled); `last_event` tells of the session."""
        intent = session.intent
        assert intent is not None
        if charge is None:
            amount = intent.amount + self.switches.take_wrong_amount()
            charge = self._charge(intent, amount, "succeeded")
        intent.status = "succeeded"
        intent.amount_received = charge.amount
        intent.last_payment_error = None
        intent.next_action = None
        session.status = "complete"
        session.payment_status = "paid"
        session.charges += 1
        drop = not announce
        self.tell(session, "charge.succeeded", charge.to_json(), settled=False, drop=drop)
        self.tell(session, "payment_intent.succeeded", intent.to_json(), settled=False, drop=drop)
        self.tell(session, last_event, session.to_json(), drop=drop)
        return session

    def _fail(self, session: CheckoutSession, error: dict[str, str]) -> None:
        """The intent's try failed, for `error`: it asks for a payment method again."""
        intent = session.intent
        assert intent is not None
        intent.status = "requires_payment_method"
        intent.next_action = None
        code = error["code"]
        intent.last_payment_error = {
            **error,
            "doc_url": "https://stripe.com/docs/error-codes/" + code.replace("_", "-"),
        }
        self.tell(session, "payment_intent.payment_failed", intent.to_json(), settled=False)

    def cancel(self, session_id: str) -> CheckoutSession:
        """The patient follows the page's way back to `cancel_url`. On Stripe that is a
        link and nothing more: the session stays open, payable until it expires. Under
        the `cancel_expires` switch (not Stripe's) it expires the session at once as
        cancelled by the patient, as the sandbox once did."""
        session = self._open(session_id)
        if self.switches.cancel_expires:
            self._ensure_intent(session)
            self._close(session, "abandoned")
        return session

    def create_refund(self, params: dict[str, Any]) -> Refund:
        read_hash(params, "", {"payment_intent", "amount", "metadata", "reason", "expand"})
        intent_id = read_str(params.get("payment_intent"), "payment_intent")
        session = self._by_intent.get(intent_id)
        if session is None or session.intent is None:
            # A parameter naming nothing is a bad request, not a missing URL: 400.
            raise no_such("payment_intent", intent_id, "payment_intent", status=400)
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
        charge = self._charges[intent.latest_charge]
        if charge.charged_back:
            raise refused(
                "charge_disputed",
                f"Charge {charge.id} has been charged back; cannot issue a refund.",
            )
        remaining = charge.amount - charge.amount_refunded
        if remaining == 0:
            raise refused(
                "charge_already_refunded",
                f"Charge {charge.id} has already been refunded.",
            )
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise refused(
                "amount_too_large",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                param="amount",
            )
        if intent.currency in THREE_DECIMAL and amount % 10:
            raise invalid_param(
                "amount",
                f"Refunds in {intent.currency} must be rounded to the nearest ten.",
                "invalid_charge_amount",
            )
        refund = Refund(
            new_id("re"),
            amount,
            intent.currency,
            intent.id,
            charge.id,
            metadata,
            reason,
            self.clock.now(),
            session.id,
        )
        self.refunds[refund.id] = refund
        session.refunds.append(refund.id)
        charge.amount_refunded += amount
        self._tell_refund(refund, "refund.created", refund.to_json())
        self._tell_refund(refund, "charge.refunded", charge.to_json())
        outcome = self.switches.refund_outcome
        delay = self.switches.refund_delay_seconds
        if delay:
            self._later(delay, self._end_refund, refund, outcome)
        else:
            self._end_refund(refund, outcome)
        return refund

    def _end_refund(self, refund: Refund, outcome: str) -> None:
        refund.status = outcome
        previous = {"status": "pending"}
        if outcome == "failed":
            refund.failure_reason = "declined"
            # The money goes back to the charge's refundable balance.
            self._charges[refund.charge].amount_refunded -= refund.amount
        self._tell_refund(refund, "refund.updated", refund.to_json(), previous=previous)
        last = outcome != "failed"
        self._tell_refund(
            refund, "charge.refund.updated", refund.to_json(), previous=previous, settled=last
        )
        if outcome == "failed":
            self._tell_refund(refund, "refund.failed", refund.to_json(), settled=True)

    def _submitted(self, session_id: str, drop: bool = False) -> CheckoutSession:
        """An open session whose page the patient submits: Stripe makes its payment
        intent at the first submission, not when the session is created."""
        session = self._open(session_id)
        self._ensure_intent(session, drop)
        return session

    def _ensure_intent(self, session: CheckoutSession, drop: bool = False) -> None:
        if session.intent is not None:
            return
        intent = PaymentIntent(
            new_id("pi"),
            session.amount_total,
            session.currency,
            dict(session.intent_metadata),
            self.clock.now(),
        )
        session.intent = intent
        self._by_intent[intent.id] = session
        self.tell(session, "payment_intent.created", intent.to_json(), settled=False, drop=drop)

    def _charge(
        self,
        intent: PaymentIntent,
        amount: int,
        status: str,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> Charge:
        charge = Charge(
            new_id("ch"),
            amount,
            intent.currency,
            intent.id,
            dict(intent.metadata),
            self.clock.now(),
            status,
            failure_code,
            failure_message,
        )
        self._charges[charge.id] = charge
        intent.latest_charge = charge.id
        return charge

    def _open(self, session_id: str) -> CheckoutSession:
        """A session the hosted page can still act on."""
        session = self.session(session_id)
        if session.status != "open":
            raise refused(
                None,
                f"This Checkout Session is {session.status}: it can no longer be paid.",
            )
        return session

    def _expire_if_due(self, session: CheckoutSession) -> None:
        if session.status == "open" and self.clock.exact_now() >= session.expires_at:
            self._close(session, "expired")

    def _close(self, session: CheckoutSession, reason: str) -> None:
        session.status = "expired"
        intent = session.intent
        if intent is not None:
            intent.status = "canceled"
            intent.cancellation_reason = reason
            intent.canceled_at = self.clock.now()
            self.tell(session, "payment_intent.canceled", intent.to_json(), settled=False)
        self.tell(session, "checkout.session.expired", session.to_json())

    def _later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        # In an empty context: what a timer does was caused by no API request.
        asyncio.get_running_loop().call_later(delay, callback, *args, context=contextvars.Context())

    def tell(
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

    def _tell_refund(
        self,
        refund: Refund,
        event_type: str,
        snapshot: dict[str, Any],
        previous: dict[str, Any] | None = None,
        settled: bool = False,
    ) -> None:
        self.webhooks.publish(
            event_type,
            snapshot,
            refund.session_id,
            group=refund.id,
            settled=settled,
            previous=previous,
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
        check_currency(currency, f"{param}[price_data][currency]")
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
