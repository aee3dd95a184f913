"""The Stripe gateway adapter against answers the sandbox never gives: a stand-in for
Stripe's API that answers each request with a body the test chooses. An answer missing
a field Stripe documents, or carrying one of another type, is refused by name; Stripe's
own errors still arrive through the SDK as before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from runtime.money import Money
from services.payment.adapters.stripe_gateway import StripeGateway
from services.payment.domain.settlement import GatewayPaid
from services.payment.handlers.gateway import GatewayRefused, GatewayUnavailable, RefundRequest
from tests.component.payment.gateway.conftest import API_KEY, WEBHOOK_SECRET, LocalServer

SESSION = "cs_test_answers"


class StandIn(LocalServer):
    """Answers `(method, path)` with the status and JSON body set for it; 404 otherwise.
    Every answer has a Request-Id, as Stripe's do; the headers of every request are kept
    in `asked`."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self.asked: list[dict[str, str]] = []

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/{path:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        missing = {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        status, body = self.answers.get((request.method, request.path), (404, missing))
        self.asked.append(dict(request.headers))
        headers = {"Request-Id": f"req_test_{len(self.asked)}"}
        return web.json_response(body, status=status, headers=headers)


@pytest.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    server = StandIn()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def gateway(stand_in: StandIn) -> AsyncIterator[StripeGateway]:
    adapter = StripeGateway(
        API_KEY,
        WEBHOOK_SECRET,
        base_url=f"http://127.0.0.1:{stand_in.port}",
        max_network_retries=0,
    )
    yield adapter
    await adapter.close()


def paid_session(**intent: Any) -> dict[str, Any]:
    """A paid session with its expanded intent, as Stripe answers it, `intent`'s fields
    put over the intent's."""
    return {
        "id": SESSION,
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": {
            "id": "pi_test_answers",
            "object": "payment_intent",
            "status": "succeeded",
            "amount_received": 5000,
            "currency": "usd",
            "last_payment_error": None,
            **intent,
        },
    }


def open_session(**fields: Any) -> dict[str, Any]:
    return {
        "id": SESSION,
        "object": "checkout.session",
        "status": "open",
        "payment_status": "unpaid",
        "payment_intent": None,
        **fields,
    }


def declined_intent(last_payment_error: Any) -> dict[str, Any]:
    return {
        "id": "pi_test_answers",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "last_payment_error": last_payment_error,
    }


async def test_a_paid_session_answered_as_stripe_does_is_read(gateway, stand_in):
    stand_in.answers["GET", f"/v1/checkout/sessions/{SESSION}"] = (200, paid_session())

    assert await gateway.read_checkout(SESSION) == GatewayPaid(SESSION, Money(5000, "USD"))


async def test_stripe_is_told_nothing_of_earlier_requests_and_still_authenticated(
    gateway, stand_in
):
    """The SDK's telemetry is off: no request carries the one before's timing, a header
    Stripe's SDK adds once an answer had a Request-Id."""
    stand_in.answers["GET", f"/v1/checkout/sessions/{SESSION}"] = (200, paid_session())

    for _ in range(3):
        await gateway.read_checkout(SESSION)

    assert [headers.get("X-Stripe-Client-Telemetry") for headers in stand_in.asked] == [None] * 3
    assert {headers["Authorization"] for headers in stand_in.asked} == {f"Bearer {API_KEY}"}


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (paid_session(amount_received=None), "amount_received"),
        (paid_session(amount_received="5000"), "amount_received"),
        (paid_session(amount_received=True), "amount_received"),
        (paid_session(currency=None), "currency"),
        (paid_session(currency="xyz"), "XYZ"),
        ({**paid_session(), "payment_status": None}, "payment_status"),
        ({k: v for k, v in open_session().items() if k != "status"}, "status"),
        (open_session(payment_intent=42), "payment_intent"),
        (open_session(payment_intent=declined_intent("card_declined")), "last_payment_error"),
        (open_session(payment_intent={"id": "pi_test_answers"}), "status"),
        ([], "list"),
    ],
    ids=[
        "amount_received_missing",
        "amount_received_as_text",
        "amount_received_as_a_boolean",
        "currency_missing",
        "currency_nobat_does_not_know",
        "payment_status_missing",
        "status_missing",
        "intent_a_number",
        "payment_error_as_text",
        "intent_without_its_status",
        "not_an_object",
    ],
)
async def test_a_session_answered_without_what_stripe_documents_is_refused_by_name(
    gateway, stand_in, answer, named
):
    stand_in.answers["GET", f"/v1/checkout/sessions/{SESSION}"] = (200, answer)

    with pytest.raises(GatewayRefused) as refused:
        await gateway.read_checkout(SESSION)

    assert refused.value.code == "malformed_answer"
    assert named in refused.value.message


async def test_a_dispute_answered_without_its_amount_is_refused_by_name(gateway, stand_in):
    dispute = {"id": "dp_test", "object": "dispute", "status": "needs_response", "reason": "fraud"}
    stand_in.answers["GET", "/v1/disputes/dp_test"] = (200, dispute)

    with pytest.raises(GatewayRefused) as refused:
        await gateway.read_dispute("dp_test")

    assert (refused.value.code, "amount" in refused.value.message) == ("malformed_answer", True)


async def test_stripes_own_errors_still_arrive_as_refused_or_unavailable(gateway, stand_in):
    stand_in.answers["POST", f"/v1/checkout/sessions/{SESSION}/expire"] = (
        500,
        {"error": {"type": "api_error", "message": "try later"}},
    )

    with pytest.raises(GatewayRefused) as refused:
        await gateway.read_checkout("cs_test_nobody_made_this")
    with pytest.raises(GatewayUnavailable):
        await gateway.expire_checkout(SESSION)

    assert refused.value.code == "resource_missing"


async def test_a_refund_answered_unreadably_is_asked_again_not_failed(gateway, stand_in):
    session = {
        "id": SESSION,
        "object": "checkout.session",
        "payment_intent": "pi_test_answers",
        "currency": "usd",
    }
    stand_in.answers["GET", f"/v1/checkout/sessions/{SESSION}"] = (200, session)
    # Made, but answered without its status: Stripe may hold this refund.
    stand_in.answers["POST", "/v1/refunds"] = (200, {"id": "re_test", "object": "refund"})
    request = RefundRequest(
        refund_id=str(uuid.uuid4()),
        payment_id=str(uuid.uuid4()),
        checkout_ref=SESSION,
        amount=Money(5000, "USD"),
        reason="slot_taken",
        asked_since=timedelta(0),
    )

    with pytest.raises(GatewayUnavailable, match="status"):
        await gateway.create_refund(request)
