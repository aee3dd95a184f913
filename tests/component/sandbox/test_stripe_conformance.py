"""The sandbox against Stripe's own description of itself: driven by the official SDK,
every object it answers and every event it sends is checked against the fields and
enums of the SDK's types, and every error code against the SDK's list of Stripe's codes
(stripe_types). A sandbox that drifts from Stripe fails here, not when a team first
points nobat at a real account.

The sandbox runs in this process, on a clock the tests move (never the wall clock), with
its webhooks sent to a receiver here, every event type enabled.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import stripe
from aiohttp import web

from sandbox.api import IDEMPOTENCY_WINDOW_SECONDS
from sandbox.app import SandboxConfig, build_app
from sandbox.objects import Clock
from stack.ports import free_port
from tests.component.sandbox.stripe_types import error_codes, event_types, fields, problems
from tests.processes import eventually

API_KEY = "sk_test_conformance"
# A fixed instant on the sandbox's clock: 2030-03-17, whatever the machine's date.
START = 1_900_000_000.0
CLASSES = {
    "checkout.session": stripe.checkout.Session,
    "payment_intent": stripe.PaymentIntent,
    "charge": stripe.Charge,
    "refund": stripe.Refund,
    "dispute": stripe.Dispute,
    "radar.early_fraud_warning": stripe.radar.EarlyFraudWarning,
}


class MovedClock(Clock):
    def __init__(self) -> None:
        super().__init__()
        self.at = START

    def exact_now(self) -> float:
        return self.at


@dataclass
class Sandbox:
    url: str
    clock: MovedClock
    client: stripe.StripeClient
    events: list[dict[str, Any]] = field(default_factory=list)

    async def control(self, path: str, body: dict | None = None) -> dict:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/_sandbox/{path}", json=body or {}) as reply,
        ):
            assert reply.status == 200, await reply.text()
            return await reply.json()

    async def events_of(self, *types: str) -> list[dict[str, Any]]:
        """The events sent so far, once one of each of `types` has arrived."""

        async def arrived() -> bool:
            return set(types) <= {event["type"] for event in self.events}

        await eventually(arrived, timeout=10, what=f"events {types}")
        return list(self.events)

    async def create(self, currency: str = "usd", amount: int = 2500, **options: Any) -> Any:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": currency,
                        "unit_amount": amount,
                        "product_data": {"name": "Visit"},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": "http://clinic.test/back?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://clinic.test/back",
            "metadata": {"payment_id": "pay_1"},
            "payment_intent_data": {"metadata": {"payment_id": "pay_1"}},
        }
        key = options.pop("idempotency_key", None)
        params.update(options)
        return await self.client.v1.checkout.sessions.create_async(
            params, {"idempotency_key": key} if key else None
        )


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    events: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        events.append(json.loads(await request.read()))
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/hooks", receive)
    receiver_port, port = free_port(), free_port()
    clock = MovedClock()
    app = build_app(
        SandboxConfig(
            api_key=API_KEY,
            webhook_secret="whsec_conformance",
            webhook_url=f"http://127.0.0.1:{receiver_port}/hooks",
            public_url=f"http://127.0.0.1:{port}",
            clock=clock,
        )
    )
    runners = [web.AppRunner(receiver, access_log=None), web.AppRunner(app, access_log=None)]
    for runner, at in zip(runners, (receiver_port, port), strict=True):
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", at).start()
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        API_KEY,
        http_client=http,
        base_addresses={"api": f"http://127.0.0.1:{port}"},
        max_network_retries=0,
    )
    try:
        yield Sandbox(f"http://127.0.0.1:{port}", clock, client, events)
    finally:
        await http.close_async()
        for runner in reversed(runners):
            await runner.cleanup()


def basic_auth(key: str) -> dict[str, str]:
    """Stripe's documented form, `curl -u KEY:`: the key as user name, no password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def answered(obj: Any) -> dict[str, Any]:
    """The JSON the sandbox answered with, as it came."""
    return json.loads(obj.last_response.body)


def object_problems(obj: dict[str, Any], path: str) -> list[str]:
    return problems(obj, CLASSES[obj["object"]], path)


async def test_a_paid_refunded_and_an_expired_checkout_are_made_of_stripes_objects_and_events(
    sandbox,
):
    paid = await sandbox.create()
    await sandbox.control(f"checkout/{paid.id}/decline", {"decline_code": "insufficient_funds"})
    await sandbox.control(f"checkout/{paid.id}/pay")
    session = await sandbox.client.v1.checkout.sessions.retrieve_async(
        paid.id, {"expand": ["payment_intent"]}
    )
    intent_id = answered(session)["payment_intent"]["id"]
    refunded = await sandbox.client.v1.refunds.create_async(
        {"payment_intent": intent_id, "amount": 1000}
    )
    await sandbox.control("switches", {"refund_outcome": "failed"})
    failed = await sandbox.client.v1.refunds.create_async(
        {"payment_intent": intent_id, "amount": 500}
    )
    left = await sandbox.create()
    await sandbox.control(f"checkout/{left.id}/decline")
    expired = await sandbox.client.v1.checkout.sessions.expire_async(
        left.id, {"expand": ["payment_intent"]}
    )

    answers = [answered(paid), answered(session), answered(refunded), answered(failed)]
    answers.append(answered(expired))
    found = [p for i, obj in enumerate(answers) for p in object_problems(obj, f"answer{i}")]
    sent = {
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
        "refund.created",
        "charge.refunded",
        "refund.updated",
        "charge.refund.updated",
        "refund.failed",
        "payment_intent.canceled",
        "checkout.session.expired",
    }
    events = await sandbox.events_of(*sent)
    for event in events:
        path = event["type"]
        found += problems(event, stripe.Event, path)
        found += object_problems(event["data"]["object"], f"{path}.data.object")
        declared = fields(CLASSES[event["data"]["object"]["object"]])
        found += [
            f"{path}.previous_attributes.{name}: not a field"
            for name in event["data"].get("previous_attributes", {})
            if name not in declared
        ]
    assert found == []
    assert {event["type"] for event in events} == sent <= event_types()
    # Stripe leaves a refund's failure_reason out until it fails.
    assert "failure_reason" not in answered(refunded)
    assert answered(failed)["failure_reason"] == "declined"


async def test_disputes_and_fraud_warnings_are_stripes_objects_and_events(sandbox):
    won, lost, asked = [await sandbox.create() for _ in range(3)]
    for session in (won, lost, asked):
        await sandbox.control(f"checkout/{session.id}/pay")
    warning = await sandbox.control(f"checkout/{lost.id}/fraud_warning")
    disputed = await sandbox.control(f"checkout/{won.id}/dispute", {"reason": "fraudulent"})
    losing = await sandbox.control(f"checkout/{lost.id}/dispute", {"reason": "general"})
    inquiry = await sandbox.control(f"checkout/{asked.id}/dispute", {"inquiry": True})
    await sandbox.control(f"disputes/{disputed['id']}/close", {"outcome": "won"})
    await sandbox.control(f"disputes/{losing['id']}/close", {"outcome": "lost"})
    await sandbox.control(f"disputes/{inquiry['id']}/close", {"outcome": "won"})
    read = await sandbox.client.v1.disputes.retrieve_async(
        disputed["id"], {"expand": ["payment_intent"]}
    )
    warned = await sandbox.client.v1.radar.early_fraud_warnings.retrieve_async(
        warning["id"], {"expand": ["payment_intent"]}
    )
    charge = await sandbox.client.v1.charges.retrieve_async(read.charge)

    sent = {
        "radar.early_fraud_warning.created",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    }
    events = await sandbox.events_of(*sent)
    found = object_problems(answered(read), "dispute") + object_problems(answered(warned), "efw")
    for event in events:
        found += problems(event, stripe.Event, event["type"])
        found += object_problems(event["data"]["object"], f"{event['type']}.data.object")
    assert found == []
    assert sent <= {event["type"] for event in events} <= event_types()
    closed = {
        event["data"]["object"]["id"]: event["data"]["object"]["status"]
        for event in events
        if event["type"] == "charge.dispute.closed"
    }
    assert closed == {disputed["id"]: "won", losing["id"]: "lost", inquiry["id"]: "warning_closed"}
    assert (read.status, read.amount, read.payment_intent.metadata["payment_id"]) == (
        "won",
        2500,
        "pay_1",
    )
    assert (warned.fraud_type, warned.actionable) == ("made_with_stolen_card", True)
    assert warned.payment_intent.latest_charge == warned.charge != read.charge
    assert charge.disputed is True
    # An inquiry takes no money, so its bank never gives any back either.
    withdrawn = [e for e in events if e["type"] == "charge.dispute.funds_withdrawn"]
    assert {e["data"]["object"]["id"] for e in withdrawn} == {disputed["id"], losing["id"]}


async def test_only_a_paid_charge_is_disputed_only_once_and_a_lost_one_is_not_refunded(
    sandbox,
):
    unpaid = await sandbox.create()
    paid = await sandbox.create()
    await sandbox.control(f"checkout/{paid.id}/pay")
    dispute = await sandbox.control(f"checkout/{paid.id}/dispute")

    async with aiohttp.ClientSession() as http:
        for path, body in (
            (f"checkout/{unpaid.id}/dispute", {}),
            (f"checkout/{paid.id}/dispute", {}),
            (f"checkout/{paid.id}/dispute", {"reason": "not_a_reason"}),
            (f"disputes/{dispute['id']}/close", {"outcome": "draw"}),
            (f"checkout/{paid.id}/fraud_warning", {"fraud_type": "bad_luck"}),
        ):
            async with http.post(f"{sandbox.url}/_sandbox/{path}", json=body) as reply:
                assert reply.status == 400, path
    await sandbox.control(f"disputes/{dispute['id']}/close", {"outcome": "lost"})
    with pytest.raises(stripe.InvalidRequestError):
        await sandbox.client.v1.disputes.retrieve_async("dp_nothing")
    session = await sandbox.client.v1.checkout.sessions.retrieve_async(paid.id)
    with pytest.raises(stripe.InvalidRequestError) as charged_back:
        await sandbox.client.v1.refunds.create_async({"payment_intent": session.payment_intent})
    assert charged_back.value.code == "charge_disputed" in error_codes()
    assert (await sandbox.client.v1.disputes.retrieve_async(dispute["id"])).status == "lost"


async def test_an_updated_event_says_what_changed_and_names_the_request_behind_it(sandbox):
    created = await sandbox.create()
    await sandbox.control(f"checkout/{created.id}/pay")
    session = await sandbox.client.v1.checkout.sessions.retrieve_async(
        created.id, {"expand": ["payment_intent"]}
    )
    refund = await sandbox.client.v1.refunds.create_async(
        {"payment_intent": answered(session)["payment_intent"]["id"]},
        {"idempotency_key": "refund-key-1"},
    )

    events = await sandbox.events_of("refund.created", "refund.updated")
    by_type = {event["type"]: event for event in events}

    request_id = refund.last_response.request_id
    assert request_id.startswith("req_")
    assert by_type["refund.created"]["request"] == {
        "id": request_id,
        "idempotency_key": "refund-key-1",
    }
    assert by_type["refund.updated"]["data"]["previous_attributes"] == {"status": "pending"}
    assert by_type["refund.updated"]["data"]["object"]["status"] == "succeeded"
    # The patient paid on the page: no API request caused it.
    assert by_type["checkout.session.completed"]["request"] == {
        "id": None,
        "idempotency_key": None,
    }


@pytest.mark.parametrize(
    ("currency", "amount", "code"),
    [
        ("irr", 15_000_000, None),  # not a currency Stripe takes
        ("xyz", 1000, None),
        ("usd", 49, "amount_too_small"),  # Stripe's least charge is 0.50 USD
        ("gbp", 29, "amount_too_small"),  # and 0.30 GBP
        ("jpy", 49, "amount_too_small"),  # ¥50, in whole yen
        ("usd", 100_000_000, "amount_too_large"),  # at most eight digits
        ("kwd", 1235, "invalid_charge_amount"),  # three decimals: the last one is 0
    ],
)
async def test_a_currency_or_amount_stripe_refuses_is_refused(sandbox, currency, amount, code):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.create(currency, amount)

    assert refused.value.code == code
    assert refused.value.param.startswith("line_items")
    assert sandbox.events == []


@pytest.mark.parametrize(
    ("currency", "amount", "shown"),
    [
        ("usd", 50, "0.50 USD"),
        ("gbp", 30, "0.30 GBP"),
        ("jpy", 50, "50 JPY"),
        ("kwd", 1230, "1.230 KWD"),
        ("usd", 99_999_999, "999999.99 USD"),
    ],
)
async def test_what_stripe_takes_is_taken_and_shown_in_its_major_units(
    sandbox, currency, amount, shown
):
    session = await sandbox.create(currency, amount)

    assert (session.currency, session.amount_total) == (currency, amount)
    async with aiohttp.ClientSession() as browser, browser.get(session.url) as page:
        assert f"Pay {shown}" in await page.text()


async def test_errors_carry_only_stripes_codes_with_their_doc_url_and_a_request_id(sandbox):
    session = await sandbox.create()
    await sandbox.control(f"checkout/{session.id}/pay")
    refused = []
    for call in (
        sandbox.create(metdata={"x": "y"}),
        sandbox.create(expires_at="soon"),
        sandbox.client.v1.checkout.sessions.retrieve_async("cs_test_nothing"),
        sandbox.client.v1.refunds.create_async({"payment_intent": "pi_nothing"}),
        sandbox.client.v1.checkout.sessions.expire_async(session.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            await call
        refused.append(error.value)

    codes = [error.code for error in refused]
    assert codes == [
        "parameter_unknown",
        "parameter_invalid_integer",
        "resource_missing",
        "resource_missing",
        None,  # Stripe's plain "only an open session can be expired"
    ]
    assert set(codes) - {None} <= error_codes()
    # A parameter naming nothing is a bad request, where a URL naming nothing is 404.
    assert [error.http_status for error in refused[2:4]] == [404, 400]
    assert refused[3].param == "payment_intent"
    for error in refused:
        assert error.request_id.startswith("req_")
        expected = error.code and "https://stripe.com/docs/error-codes/" + error.code.replace(
            "_", "-"
        )
        assert error.error.doc_url == expected


async def test_the_intent_is_made_when_the_page_is_submitted_and_the_url_goes_with_the_session(
    sandbox,
):
    paid = await sandbox.create()
    assert (paid.payment_intent, paid.url) == (None, f"{sandbox.url}/checkout/{paid.id}")
    assert await sandbox.events_of() == []

    await sandbox.control(f"checkout/{paid.id}/pay")
    completed = await sandbox.client.v1.checkout.sessions.retrieve_async(paid.id)
    left = await sandbox.create(expires_at=int(START) + 1800)
    sandbox.clock.at = START + 1800
    lapsed = await sandbox.client.v1.checkout.sessions.retrieve_async(left.id)

    assert (completed.status, completed.url) == ("complete", None)
    assert completed.payment_intent.startswith("pi_")
    assert (lapsed.status, lapsed.url, lapsed.payment_intent) == ("expired", None, None)


async def test_cancel_on_the_page_only_leads_back_and_the_session_stays_payable(sandbox):
    session = await sandbox.create()

    async with (
        aiohttp.ClientSession() as browser,
        browser.post(f"{session.url}/cancel", allow_redirects=False) as cancelled,
    ):
        assert (cancelled.status, cancelled.headers["Location"]) == (303, session.cancel_url)
    still = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)

    assert (still.status, still.url) == ("open", session.url)
    await sandbox.control(f"checkout/{session.id}/pay")
    assert (await sandbox.events_of("checkout.session.completed"))[-1]["type"] == (
        "checkout.session.completed"
    )


async def test_the_key_is_taken_as_stripe_documents_it_with_basic_auth_too(sandbox):
    session = await sandbox.create()
    url = f"{sandbox.url}/v1/checkout/sessions/{session.id}"

    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=basic_auth(API_KEY)) as basic:
            assert (basic.status, (await basic.json())["id"]) == (200, session.id)
            assert basic.headers["Request-Id"].startswith("req_")
        async with http.get(url, headers=basic_auth("sk_test_not_ours")) as wrong:
            assert wrong.status == 401
        async with http.get(url) as none:
            assert none.status == 401


async def test_an_idempotency_key_is_forgotten_after_24_hours_on_the_sandboxs_clock(sandbox):
    first = await sandbox.create(idempotency_key="visit-1")

    sandbox.clock.at = START + IDEMPOTENCY_WINDOW_SECONDS - 1
    again = await sandbox.create(idempotency_key="visit-1")
    with pytest.raises(stripe.IdempotencyError):
        await sandbox.create(amount=3000, idempotency_key="visit-1")
    sandbox.clock.at = START + IDEMPOTENCY_WINDOW_SECONDS
    later = await sandbox.create(amount=3000, idempotency_key="visit-1")

    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert later.id != first.id
    assert later.amount_total == 3000


async def test_a_key_still_being_answered_is_409_and_the_first_answer_stands(sandbox):
    await sandbox.control("switches", {"api_delay_seconds": 0.5})

    first, second = await asyncio.gather(
        sandbox.create(idempotency_key="visit-2"),
        sandbox.create(idempotency_key="visit-2"),
        return_exceptions=True,
    )
    await sandbox.control("switches", {"api_delay_seconds": 0})
    replayed = await sandbox.create(idempotency_key="visit-2")

    made, conflict = (first, second) if isinstance(second, Exception) else (second, first)
    assert isinstance(conflict, stripe.StripeError)
    assert (conflict.http_status, conflict.error.type, conflict.error.code) == (
        409,
        "idempotency_error",
        "idempotency_key_in_use",
    )
    assert conflict.error.code in error_codes()
    assert replayed.id == made.id
    assert (await sandbox.control("reset"))["api_delay_seconds"] == 0


def event_problems(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        path = event["type"]
        found += problems(event, stripe.Event, path)
        found += object_problems(event["data"]["object"], f"{path}.data.object")
    return found


async def test_a_3d_secure_challenge_failed_then_passed_is_made_of_stripes_objects_and_events(
    sandbox,
):
    session = await sandbox.create()
    challenged = await sandbox.control(f"checkout/{session.id}/challenge")
    failed = await sandbox.control(f"checkout/{session.id}/authenticate", {"passed": False})
    still = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    await sandbox.control(f"checkout/{session.id}/challenge")
    await sandbox.control(f"checkout/{session.id}/authenticate", {"passed": True})

    asked = challenged["session"]["payment_intent"]
    assert asked["status"] == "requires_action"
    assert asked["next_action"]["type"] == "redirect_to_url"
    error = failed["session"]["payment_intent"]["last_payment_error"]
    assert error["code"] == "payment_intent_authentication_failure" in error_codes()
    # Stripe keeps the session open for another try, and charges nothing for the failure.
    assert (still.status, still.payment_status) == ("open", "unpaid")
    assert failed["charges"] == 0
    sent = {
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    }
    events = await sandbox.events_of(*sent)
    answers = [challenged["session"]["payment_intent"], answered(still)]
    found = [p for i, obj in enumerate(answers) for p in object_problems(obj, f"answer{i}")]
    assert found + event_problems(events) == []
    assert {event["type"] for event in events} == sent <= event_types()


@pytest.mark.parametrize(
    ("outcome", "last"),
    [
        ("succeeded", "checkout.session.async_payment_succeeded"),
        ("failed", "checkout.session.async_payment_failed"),
    ],
)
async def test_a_delayed_payment_completes_unpaid_then_settles_as_stripe_tells_it(
    sandbox, outcome, last
):
    session = await sandbox.create()
    await sandbox.control(f"checkout/{session.id}/pay_later")
    waiting = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    await sandbox.control(f"checkout/{session.id}/settle", {"outcome": outcome})
    settled = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    with pytest.raises(stripe.InvalidRequestError):
        await sandbox.client.v1.checkout.sessions.expire_async(session.id)

    assert (waiting.status, waiting.payment_status, waiting.url) == ("complete", "unpaid", None)
    assert answered(waiting)["payment_intent"]["status"] == "processing"
    paid = outcome == "succeeded"
    assert (settled.status, settled.payment_status) == ("complete", "paid" if paid else "unpaid")
    intent = answered(settled)["payment_intent"]
    assert intent["status"] == ("succeeded" if paid else "requires_payment_method")
    if not paid:
        assert intent["last_payment_error"]["code"] in error_codes()
    sent = {
        "payment_intent.created",
        "charge.pending",
        "payment_intent.processing",
        "checkout.session.completed",
        f"charge.{outcome}",
        "payment_intent.succeeded" if paid else "payment_intent.payment_failed",
        last,
    }
    events = await sandbox.events_of(*sent)
    answers = [answered(waiting), answered(settled)]
    found = [p for i, obj in enumerate(answers) for p in object_problems(obj, f"answer{i}")]
    assert found + event_problems(events) == []
    assert {event["type"] for event in events} == sent <= event_types()
    # Settled once: the bank does not settle it again.
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.url}/_sandbox/checkout/{session.id}/settle", json={}) as again,
    ):
        assert again.status == 400


async def test_a_delayed_payment_is_settled_by_the_banks_timer_on_the_sandboxs_switch(sandbox):
    await sandbox.control("switches", {"delayed_settle_seconds": 0.2, "delayed_outcome": "failed"})
    session = await sandbox.create()
    await sandbox.control(f"checkout/{session.id}/pay_later")

    events = await sandbox.events_of("checkout.session.async_payment_failed")

    assert events[-1]["data"]["object"]["payment_status"] == "unpaid"
