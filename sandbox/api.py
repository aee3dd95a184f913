"""The part of Stripe's REST API that nobat uses, as the official SDK calls it.

Requests carry the secret key as `Authorization: Bearer <key>` (the SDK's way) or as the
user name of HTTP Basic auth (Stripe's documented curl form), and form-encoded bodies.
Every answer carries a `Request-Id`, which the events a request causes name. A POST with
an `Idempotency-Key` seen in the last 24 hours gets the first answer again, unchanged
(marked `Idempotent-Replayed: true`); the same key with other parameters is an
`idempotency_error`, and while the first request with a key is still being answered,
another with it is 409 `idempotency_key_in_use`. The `lose_response` switch carries a
call out and then closes the connection without an answer, so the SDK sees a network
error and may ask again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.disputes import Disputes
from sandbox.errors import StripeError, invalid_param
from sandbox.forms import parse_form
from sandbox.objects import Clock, new_id
from sandbox.payments import Payments
from sandbox.switches import Switches
from sandbox.webhooks import current_request

# Stripe forgets an idempotency key 24 hours after its first use: the same key then
# makes a new request.
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


@dataclass(frozen=True)
class _Answer:
    path: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any]
    # On the sandbox's clock: when the key was first used.
    at: float


class Api:
    def __init__(
        self,
        payments: Payments,
        disputes: Disputes,
        switches: Switches,
        api_key: str,
        clock: Clock,
    ) -> None:
        self.payments = payments
        self.disputes = disputes
        self.switches = switches
        self.api_key = api_key
        self.clock = clock
        # Oldest first, as they were stored: forgetting stops at the first one still kept.
        self._answers: dict[str, _Answer] = {}
        self._in_flight: set[str] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/checkout/sessions", self.create_session),
            web.get("/v1/checkout/sessions/{id}", self.get_session),
            web.post("/v1/checkout/sessions/{id}/expire", self.expire_session),
            web.post("/v1/refunds", self.create_refund),
            web.get("/v1/refunds", self.list_refunds),
            web.get("/v1/refunds/{id}", self.get_refund),
            web.get("/v1/charges/{id}", self.get_charge),
            web.get("/v1/disputes/{id}", self.get_dispute),
            web.get("/v1/radar/early_fraud_warnings/{id}", self.get_fraud_warning),
        ]

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Stripe's error shape for every JSON route; authentication and a Request-Id
        for /v1 ones."""
        if not request.path.startswith("/v1/"):
            try:
                return await handler(request)
            except StripeError as error:
                return error.response()
        request_id = new_id("req")
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        # Reset after the answer: a connection kept alive serves the page next, perhaps.
        token = current_request.set((request_id, key))
        try:
            self._authenticate(request)
            if self.switches.api_down:
                raise StripeError(
                    503,
                    "The sandbox is down (the api_down switch).",
                    type="api_error",
                    executed=False,
                )
            response = await handler(request)
        except StripeError as error:
            response = error.response()
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            message = f"Unrecognized request URL ({request.method}: {request.path})."
            response = StripeError(404, message).response()
        finally:
            current_request.reset(token)
        response.headers["Request-Id"] = request_id
        return response

    async def create_session(self, request: web.Request) -> web.StreamResponse:
        def create(params: dict[str, Any]) -> dict[str, Any]:
            expand = _expands_intent(params)
            return self.payments.create_session(params).to_json(expand)

        return await self._mutate(request, create)

    async def get_session(self, request: web.Request) -> web.StreamResponse:
        params = parse_form(request.query_string)
        session = self.payments.session(request.match_info["id"])
        self.payments.session_reads += 1
        return web.json_response(session.to_json(_expands_intent(params)))

    async def expire_session(self, request: web.Request) -> web.StreamResponse:
        session_id = request.match_info["id"]

        def expire(params: dict[str, Any]) -> dict[str, Any]:
            expand = _expands_intent(params)
            return self.payments.expire(session_id).to_json(expand)

        return await self._mutate(request, expire)

    async def create_refund(self, request: web.Request) -> web.StreamResponse:
        return await self._mutate(
            request, lambda params: self.payments.create_refund(params).to_json()
        )

    async def list_refunds(self, request: web.Request) -> web.StreamResponse:
        """Stripe's list, newest first, of one payment intent's refunds (the only filter
        nobat uses), `limit` a page and `starting_after` the last one seen."""
        params = parse_form(request.query_string)
        self.payments.refund_lists += 1
        refunds = self.payments.refunds_of(params.get("payment_intent", ""))
        if "starting_after" in params:
            seen = [refund.id for refund in refunds]
            if params["starting_after"] not in seen:
                raise invalid_param("starting_after", "No such refund")
            refunds = refunds[seen.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", 10))
        return web.json_response(
            {
                "object": "list",
                "url": "/v1/refunds",
                "data": [refund.to_json() for refund in refunds[:limit]],
                "has_more": len(refunds) > limit,
            }
        )

    async def get_refund(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.payments.refund(request.match_info["id"]).to_json())

    async def get_charge(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.payments.charge(request.match_info["id"]).to_json())

    async def get_dispute(self, request: web.Request) -> web.StreamResponse:
        dispute = self.disputes.dispute(request.match_info["id"])
        return web.json_response(dispute.to_json(self._intent(request, dispute.payment_intent)))

    async def get_fraud_warning(self, request: web.Request) -> web.StreamResponse:
        warning = self.disputes.fraud_warning(request.match_info["id"])
        return web.json_response(warning.to_json(self._intent(request, warning.payment_intent)))

    def _intent(self, request: web.Request, intent_id: str) -> dict[str, Any] | None:
        """The payment intent, when the request expands it."""
        if _expands_intent(parse_form(request.query_string)):
            return self.payments.intent_json(intent_id)
        return None

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            # `curl -u sk_test_...:`: the key is the user name, the password empty.
            try:
                key = base64.b64decode(key, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
            scheme = "bearer"
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if scheme.lower() != "bearer" or not hmac.compare_digest(key, self.api_key):
            masked = "*" * (len(key) - 4) + key[-4:] if len(key) > 8 else "*" * len(key)
            raise StripeError(401, f"Invalid API Key provided: {masked}")

    async def _mutate(
        self, request: web.Request, action: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return await self._answer(request, None, action)
        if key in self._in_flight:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through). Please retry your request after a short delay.",
                type="idempotency_error",
                code="idempotency_key_in_use",
                executed=False,
            )
        self._in_flight.add(key)
        try:
            return await self._answer(request, key, action)
        finally:
            self._in_flight.discard(key)

    async def _answer(
        self,
        request: web.Request,
        key: str | None,
        action: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> web.StreamResponse:
        params = parse_form(await request.text())
        # A test's stand-in for the day after which Stripe has forgotten every key.
        if self.switches.take("forget_keys"):
            self._answers.clear()
        answer = self._remembered(key)
        replayed = answer is not None
        if answer is None:
            answer = self._perform(request.path, params, action)
            if key:
                self._answers[key] = answer
        elif (answer.path, answer.params) != (request.path, params):
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
                executed=False,
            )
        if self.switches.api_delay_seconds:
            await asyncio.sleep(self.switches.api_delay_seconds)
        if self.switches.take("lose_response"):
            hang_up(request)
        response = web.json_response(answer.body, status=answer.status)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    def _remembered(self, key: str | None) -> _Answer | None:
        """The answer first given for `key`, unless that was 24 hours ago or more."""
        forget_before = self.clock.exact_now() - IDEMPOTENCY_WINDOW_SECONDS
        while self._answers:
            oldest, answer = next(iter(self._answers.items()))
            if answer.at > forget_before:
                break
            del self._answers[oldest]
        return self._answers.get(key) if key else None

    def _perform(
        self,
        path: str,
        params: dict[str, Any],
        action: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> _Answer:
        at = self.clock.exact_now()
        try:
            return _Answer(path, params, 200, action(params), at)
        except StripeError as error:
            if not error.executed:
                raise
            return _Answer(path, params, error.status, {"error": error.body}, at)


def _expands_intent(params: dict[str, Any]) -> bool:
    expand = params.get("expand", [])
    if not isinstance(expand, list) or any(field != "payment_intent" for field in expand):
        raise invalid_param("expand", f"This property cannot be expanded ({expand}).")
    return bool(expand)


def hang_up(request: web.Request) -> None:
    """Closes the connection before the answer is written: the work is done, and the
    client sees only a dropped connection."""
    assert request.transport is not None
    request.transport.close()
