"""The control API, for tests and demos: switches, the page's buttons without a browser,
and what the sandbox has seen. No authentication: it exists only in the sandbox."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sandbox.disputes import Disputes
from sandbox.errors import StripeError
from sandbox.objects import CheckoutSession
from sandbox.page import after_cancel, after_pay, pay
from sandbox.payments import Payments
from sandbox.switches import Switches
from sandbox.webhooks import Webhooks


class Control:
    def __init__(
        self, payments: Payments, disputes: Disputes, switches: Switches, webhooks: Webhooks
    ) -> None:
        self.payments = payments
        self.disputes = disputes
        self.switches = switches
        self.webhooks = webhooks

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sandbox/switches", self.show_switches),
            web.post("/_sandbox/switches", self.set_switches),
            web.post("/_sandbox/reset", self.reset),
            web.post("/_sandbox/checkout/{id}/pay", self.pay),
            web.post("/_sandbox/checkout/{id}/decline", self.decline),
            web.post("/_sandbox/checkout/{id}/cancel", self.cancel),
            web.post("/_sandbox/checkout/{id}/dispute", self.open_dispute),
            web.post("/_sandbox/disputes/{id}/close", self.close_dispute),
            web.post("/_sandbox/checkout/{id}/fraud_warning", self.warn_of_fraud),
            web.post("/_sandbox/checkout/{id}/pay_later", self.pay_later),
            web.post("/_sandbox/checkout/{id}/settle", self.settle),
            web.post("/_sandbox/checkout/{id}/challenge", self.challenge),
            web.post("/_sandbox/checkout/{id}/authenticate", self.authenticate),
            web.get("/_sandbox/sessions/{id}", self.show_session),
            web.get("/_sandbox/stats", self.stats),
            web.post("/_sandbox/webhooks/resend/{id}", self.resend),
        ]

    async def show_switches(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.switches.as_json())

    async def set_switches(self, request: web.Request) -> web.StreamResponse:
        try:
            self.switches.merge(await _json_object(request))
        except ValueError as exc:
            raise StripeError(400, str(exc), code="switch_invalid") from None
        return web.json_response(self.switches.as_json())

    async def reset(self, request: web.Request) -> web.StreamResponse:
        """Switches back to their defaults, and nothing left held by `reverse`."""
        self.switches.reset()
        self.webhooks.release_held()
        return web.json_response(self.switches.as_json())

    async def pay(self, request: web.Request) -> web.StreamResponse:
        session = pay(self.payments, self.switches, request)
        return web.json_response(self._view(session, after_pay(session)))

    async def decline(self, request: web.Request) -> web.StreamResponse:
        code = _text(await _json_object(request), "decline_code", "generic_decline")
        session = self.payments.decline(request.match_info["id"], code)
        return web.json_response(self._view(session, session.page_url))

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        session = self.payments.cancel(request.match_info["id"])
        return web.json_response(self._view(session, after_cancel(session)))

    async def open_dispute(self, request: web.Request) -> web.StreamResponse:
        """The cardholder's bank disputes the session's charge: `reason` (Stripe's, default
        fraudulent), `inquiry` (true: a warning that takes no money yet)."""
        body = await _json_object(request)
        reason = _text(body, "reason", "fraudulent")
        inquiry = _flag(body, "inquiry", False)
        dispute = self.disputes.open(request.match_info["id"], reason, inquiry)
        return web.json_response(dispute.to_json())

    async def close_dispute(self, request: web.Request) -> web.StreamResponse:
        outcome = _text(await _json_object(request), "outcome", "")
        dispute = self.disputes.close(request.match_info["id"], outcome)
        return web.json_response(dispute.to_json())

    async def warn_of_fraud(self, request: web.Request) -> web.StreamResponse:
        fraud_type = _text(await _json_object(request), "fraud_type", "made_with_stolen_card")
        warning = self.disputes.warn(request.match_info["id"], fraud_type)
        return web.json_response(warning.to_json())

    async def pay_later(self, request: web.Request) -> web.StreamResponse:
        session = self.payments.pay_later(request.match_info["id"])
        return web.json_response(self._view(session, after_pay(session)))

    async def settle(self, request: web.Request) -> web.StreamResponse:
        """The bank settles a delayed payment: `{"outcome": "succeeded" | "failed"}`, and
        for a failure the charge's `failure_code` (default `insufficient_funds`)."""
        body = await _json_object(request)
        outcome = body.get("outcome", "succeeded")
        if outcome not in ("succeeded", "failed"):
            raise StripeError(400, 'outcome must be "succeeded" or "failed"', param="outcome")
        code = _text(body, "failure_code", "insufficient_funds")
        session = self.payments.settle(request.match_info["id"], outcome == "succeeded", code)
        return web.json_response(self._view(session))

    async def challenge(self, request: web.Request) -> web.StreamResponse:
        session = self.payments.challenge(request.match_info["id"])
        return web.json_response(self._view(session, session.page_url))

    async def authenticate(self, request: web.Request) -> web.StreamResponse:
        """The patient's answer to the 3-D Secure challenge: `{"passed": true | false}`."""
        passed = _flag(await _json_object(request), "passed", True)
        session = self.payments.authenticate(request.match_info["id"], passed)
        return web.json_response(self._view(session, after_pay(session) if passed else None))

    async def show_session(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._view(self.payments.session(request.match_info["id"])))

    async def stats(self, request: web.Request) -> web.StreamResponse:
        sessions = self.payments.sessions.values()
        webhooks = {
            name: self.webhooks.stats[name]
            for name in ("delivered", "failed", "dropped", "abandoned", "in_flight")
        }
        return web.json_response(
            {
                "sessions": len(sessions),
                "session_reads": self.payments.session_reads,
                "refund_lists": self.payments.refund_lists,
                "charges": sum(session.charges for session in sessions),
                "refunds": len(self.payments.refunds),
                "webhooks": webhooks | {"held": self.webhooks.held},
            }
        )

    async def resend(self, request: web.Request) -> web.StreamResponse:
        session = self.payments.session(request.match_info["id"])
        return web.json_response({"resent": self.webhooks.resend(session.id)})

    def _view(self, session: CheckoutSession, redirect_url: str | None = None) -> dict[str, Any]:
        """A session with its intent, charges and refunds; after a button, where the
        browser would be sent."""
        view = {
            "session": session.to_json(expand_intent=True),
            "charges": session.charges,
            "refunds": [self.payments.refunds[refund].to_json() for refund in session.refunds],
        }
        if redirect_url is not None:
            view["redirect_url"] = redirect_url
        return view


async def _json_object(request: web.Request) -> dict[str, Any]:
    text = await request.text()
    try:
        body = json.loads(text) if text.strip() else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise StripeError(400, "The body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value:
        raise StripeError(400, f"{name} must be a string", param=name)
    return value


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise StripeError(400, f"{name} must be true or false", param=name)
    return value
