"""The Stripe gateway adapter, through the official SDK, against the sandbox gateway as a
real process: sessions and their truths, refunds, lost answers, and webhooks as the
sandbox delivers them (signed, duplicated, reordered, dropped, retried, forged)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import stripe

from runtime.money import Money
from services.payment.adapters.stripe_gateway import SESSION_GRACE, StripeGateway
from services.payment.domain.disputes import DisputeStatus, DisputeTruth, FraudWarningTruth
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
)
from services.payment.handlers.gateway import (
    CheckoutRequest,
    GatewayRefused,
    GatewayUnavailable,
    InvalidWebhook,
    RefundRequest,
    WebhookHint,
)
from stack.ports import free_port
from stack.sandbox import SandboxGateway
from tests.component.payment.gateway.conftest import (
    API_KEY,
    WEBHOOK_SECRET,
    Delivery,
    WebhookReceiver,
)
from tests.component.payment.harness import SandboxControl
from tests.processes import eventually

RETURN_URL = "http://clinic.test/payments/return?from=app"


def checkout_request(amount_minor: int = 1234, currency: str = "USD") -> CheckoutRequest:
    return CheckoutRequest(
        attempt_id=str(uuid.uuid4()),
        payment_id=str(uuid.uuid4()),
        patient_id=str(uuid.uuid4()),
        amount=Money(amount_minor, currency),
        description="Consultation with Dr. Rahimi",
        return_url=RETURN_URL,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


def refund_request(paid: CheckoutRequest, checkout_ref: str, amount_minor: int) -> RefundRequest:
    return RefundRequest(
        refund_id=str(uuid.uuid4()),
        payment_id=paid.payment_id,
        checkout_ref=checkout_ref,
        amount=Money(amount_minor, paid.amount.currency),
        reason="slot_taken",
    )


async def open_session(gateway: StripeGateway, request: CheckoutRequest | None = None) -> str:
    return (await gateway.create_checkout(request or checkout_request())).gateway_ref


async def paid_session(
    gateway: StripeGateway, sandbox: SandboxControl, request: CheckoutRequest
) -> str:
    ref = await open_session(gateway, request)
    await sandbox.pay(ref)
    return ref


async def count(sandbox: SandboxControl, what: str) -> int:
    stats = await sandbox.stats()
    return stats["webhooks"][what] if what in stats["webhooks"] else stats[what]


async def control_post(sandbox: SandboxControl, path: str) -> int:
    """A control call that may fail, answered with its HTTP status."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.url}/_sandbox/{path}", json={}) as reply,
    ):
        return reply.status


async def deliveries_settle(sandbox: SandboxControl) -> None:
    async def quiet() -> bool:
        webhooks = (await sandbox.stats())["webhooks"]
        return webhooks["in_flight"] == 0 and webhooks["held"] == 0

    await eventually(quiet, timeout=10, what="webhook deliveries to finish")


def types(deliveries: list[Delivery]) -> list[str]:
    return [delivery.event["type"] for delivery in deliveries]


@contextlib.asynccontextmanager
async def raw_client(sandbox: SandboxGateway) -> AsyncIterator[stripe.StripeClient]:
    """The SDK without the adapter, for what the adapter never sends."""
    http = stripe.AIOHTTPClient()
    try:
        yield stripe.StripeClient(API_KEY, http_client=http, base_addresses={"api": sandbox.url})
    finally:
        await http.close_async()


def signed(event: dict[str, Any] | bytes, secret: str, at: int) -> tuple[bytes, str]:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={at},v1={digest}"


async def test_one_attempt_makes_one_session_however_often_it_is_asked(gateway, sandbox):
    before = await count(sandbox, "sessions")
    request = checkout_request()

    first = await gateway.create_checkout(request)
    again = await gateway.create_checkout(request)

    assert again == first
    assert first.checkout_url == f"{sandbox.url}/checkout/{first.gateway_ref}"
    assert await count(sandbox, "sessions") == before + 1
    session = (await sandbox.session(first.gateway_ref))["session"]
    ids = {
        "payment_id": request.payment_id,
        "attempt_id": request.attempt_id,
        "patient_id": request.patient_id,
    }
    assert session["metadata"] == ids
    # As on Stripe, the intent is made when the patient first submits the page.
    assert session["payment_intent"] is None
    paid = (await sandbox.pay(first.gateway_ref))["session"]
    assert paid["payment_intent"]["metadata"] == ids
    assert (session["amount_total"], session["currency"]) == (1234, "usd")
    assert session["client_reference_id"] == request.attempt_id
    assert session["success_url"] == RETURN_URL + "&session_id={CHECKOUT_SESSION_ID}"
    assert session["cancel_url"] == RETURN_URL
    assert session["expires_at"] == int((request.expires_at + SESSION_GRACE).timestamp())


async def test_the_same_attempt_id_for_another_amount_is_refused(gateway, sandbox):
    request = checkout_request()
    await gateway.create_checkout(request)

    with pytest.raises(GatewayRefused) as refused:
        await gateway.create_checkout(replace(request, amount=Money(999, "USD")))
    assert refused.value.code == "idempotency_error"


async def test_a_new_session_is_open(gateway, sandbox):
    ref = await open_session(gateway)
    assert await gateway.read_checkout(ref) == GatewayOpen(ref)


async def test_a_paid_session_reports_what_was_taken_in_minor_units(gateway, sandbox):
    request = checkout_request(5000, "JPY")
    ref = await paid_session(gateway, sandbox, request)

    assert await gateway.read_checkout(ref) == GatewayPaid(ref, Money(5000, "JPY"))
    assert (await sandbox.session(ref))["charges"] == 1


async def test_a_declined_card_leaves_the_session_open_to_pay(gateway, sandbox):
    ref = await open_session(gateway)

    await sandbox.decline(ref, "insufficient_funds")
    assert await gateway.read_checkout(ref) == GatewayDeclined(
        ref, "insufficient_funds", "Your card has insufficient funds."
    )
    await sandbox.pay(ref)
    assert await gateway.read_checkout(ref) == GatewayPaid(ref, Money(1234, "USD"))


async def test_cancel_on_the_page_leaves_the_session_open_to_pay_as_on_stripe(gateway, sandbox):
    ref = await open_session(gateway)
    await sandbox.cancel(ref)
    assert await gateway.read_checkout(ref) == GatewayOpen(ref)
    await sandbox.pay(ref)
    assert await gateway.read_checkout(ref) == GatewayPaid(ref, Money(1234, "USD"))


async def test_under_the_cancel_expires_switch_a_patient_who_leaves_cancels(gateway, sandbox):
    await sandbox.switches(cancel_expires=True)
    ref = await open_session(gateway)
    await sandbox.cancel(ref)
    assert await gateway.read_checkout(ref) == GatewayCanceled(ref)


async def test_an_expired_session_stays_expired_and_takes_no_money(gateway, sandbox):
    ref = await open_session(gateway)

    assert await gateway.expire_checkout(ref) == GatewayExpired(ref)
    assert await gateway.expire_checkout(ref) == GatewayExpired(ref)
    assert await control_post(sandbox, f"checkout/{ref}/pay") == 400
    assert (await sandbox.session(ref))["charges"] == 0
    assert await gateway.read_checkout(ref) == GatewayExpired(ref)


async def test_a_session_paid_before_it_is_expired_stays_paid(gateway, sandbox):
    ref = await paid_session(gateway, sandbox, checkout_request())
    assert await gateway.expire_checkout(ref) == GatewayPaid(ref, Money(1234, "USD"))


async def test_a_session_expires_by_itself_at_its_time(
    gateway, sandbox, sandbox_process, webhook_receiver: WebhookReceiver
):
    payment_id = str(uuid.uuid4())
    async with raw_client(sandbox_process) as client:
        session = await client.v1.checkout.sessions.create_async(
            {
                "mode": "payment",
                "line_items": [
                    {
                        "price_data": {
                            "currency": "eur",
                            "unit_amount": 900,
                            "product_data": {"name": "Follow-up"},
                        },
                        "quantity": 1,
                    }
                ],
                "metadata": {"payment_id": payment_id},
                "expires_at": int(time.time()) + 1,
            }
        )

    [expired] = await webhook_receiver.wait_for(payment_id, lambda found: len(found) == 1)
    assert expired.event["type"] == "checkout.session.expired"
    assert await gateway.read_checkout(session.id) == GatewayExpired(session.id)


async def test_the_sandbox_refuses_parameters_stripe_does_not_know(sandbox_process):
    async with raw_client(sandbox_process) as client:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            await client.v1.checkout.sessions.create_async(
                {"mode": "payment", "metdata": {"payment_id": "p"}}
            )
    assert (refused.value.code, refused.value.param) == ("parameter_unknown", "metdata")


async def test_a_wrong_amount_is_reported_as_taken(gateway, sandbox):
    await sandbox.switches(wrong_amount=1)
    ref = await paid_session(gateway, sandbox, checkout_request(1234))
    assert await gateway.read_checkout(ref) == GatewayPaid(ref, Money(1235, "USD"))


async def test_a_lost_answer_to_create_is_asked_again_and_makes_one_session(gateway, sandbox):
    before = await count(sandbox, "sessions")
    request = checkout_request()

    await sandbox.switches(lose_response=1)
    checkout = await gateway.create_checkout(request)

    assert await count(sandbox, "sessions") == before + 1
    assert (await sandbox.session(checkout.gateway_ref))["session"]["client_reference_id"] == (
        request.attempt_id
    )


async def test_when_every_answer_is_lost_a_later_create_finds_the_one_session(gateway, sandbox):
    before = await count(sandbox, "sessions")
    request = checkout_request()

    # The call and both of the SDK's retries are carried out, and all their answers lost.
    await sandbox.switches(lose_response=3)
    with pytest.raises(GatewayUnavailable):
        await gateway.create_checkout(request)
    checkout = await gateway.create_checkout(request)

    assert await count(sandbox, "sessions") == before + 1
    assert await gateway.read_checkout(checkout.gateway_ref) == GatewayOpen(checkout.gateway_ref)


async def test_a_full_refund_succeeds_and_leaves_nothing_to_refund(gateway, sandbox):
    request = checkout_request()
    ref = await paid_session(gateway, sandbox, request)
    refund = refund_request(request, ref, 1234)

    truth = await gateway.create_refund(refund)

    assert truth == GatewayRefunded(refund.refund_id, truth.gateway_ref)
    assert truth.gateway_ref.startswith("re_")
    assert await gateway.read_refund(refund.refund_id, truth.gateway_ref) == truth
    with pytest.raises(GatewayRefused) as mixed_up:
        await gateway.read_refund("another-refund", truth.gateway_ref)
    assert mixed_up.value.code == "refund_mismatch"
    with pytest.raises(GatewayRefused) as refused:
        await gateway.create_refund(refund_request(request, ref, 1))
    assert refused.value.code == "charge_already_refunded"


async def test_partial_refunds_go_up_to_what_was_taken_and_no_further(gateway, sandbox):
    request = checkout_request(1000)
    ref = await paid_session(gateway, sandbox, request)

    first = await gateway.create_refund(refund_request(request, ref, 400))
    with pytest.raises(GatewayRefused) as refused:
        await gateway.create_refund(refund_request(request, ref, 601))
    last = await gateway.create_refund(refund_request(request, ref, 600))

    assert isinstance(first, GatewayRefunded) and isinstance(last, GatewayRefunded)
    assert refused.value.code == "amount_too_large"
    refunds = (await sandbox.session(ref))["refunds"]
    assert [(r["amount"], r["status"]) for r in refunds] == [(400, "succeeded"), (600, "succeeded")]


async def test_an_unpaid_session_has_nothing_to_refund(gateway, sandbox):
    request = checkout_request()
    ref = await open_session(gateway, request)

    with pytest.raises(GatewayRefused) as untouched:
        await gateway.create_refund(refund_request(request, ref, 1234))
    # Declined: there is an intent now, but no charge that succeeded.
    await sandbox.decline(ref)
    with pytest.raises(GatewayRefused) as declined:
        await gateway.create_refund(refund_request(request, ref, 1234))

    assert untouched.value.code == "nothing_to_refund"
    assert declined.value.code == "payment_intent_unexpected_state"


async def test_a_lost_answer_to_a_refund_makes_one_refund(gateway, sandbox):
    request = checkout_request()
    ref = await paid_session(gateway, sandbox, request)
    refund = refund_request(request, ref, 500)

    listed = (await sandbox.stats())["refund_lists"]
    await sandbox.switches(lose_response=1)
    truth = await gateway.create_refund(refund)
    again = await gateway.create_refund(refund)

    assert again == truth
    assert [r["id"] for r in (await sandbox.session(ref))["refunds"]] == [truth.gateway_ref]
    # Within the day the key made the repeat harmless: the refunds were never listed.
    assert (await sandbox.stats())["refund_lists"] == listed


async def test_a_refund_asked_again_after_the_gateway_forgot_its_key_makes_one_refund(
    gateway, sandbox
):
    request = checkout_request(1000)
    ref = await paid_session(gateway, sandbox, request)
    refund = refund_request(request, ref, 400)
    truth = await gateway.create_refund(refund)

    # A day later: the first answer was lost, and Stripe no longer knows the key.
    await sandbox.switches(forget_keys=1)
    again = await gateway.create_refund(replace(refund, asked_since=timedelta(days=1)))

    assert again == truth
    refunds = (await sandbox.session(ref))["refunds"]
    assert [(r["id"], r["amount"]) for r in refunds] == [(truth.gateway_ref, 400)]


async def test_a_slow_refund_is_pending_until_the_gateway_ends_it(gateway, sandbox):
    request = checkout_request()
    ref = await paid_session(gateway, sandbox, request)
    await sandbox.switches(refund_delay_seconds=0.3, refund_outcome="failed")
    refund = refund_request(request, ref, 1234)

    pending = await gateway.create_refund(refund)
    assert pending == GatewayRefundPending(refund.refund_id, pending.gateway_ref)

    async def ended() -> bool:
        truth = await gateway.read_refund(refund.refund_id, pending.gateway_ref)
        return not isinstance(truth, GatewayRefundPending)

    await eventually(ended, timeout=5, what="the refund to end")
    failed = await gateway.read_refund(refund.refund_id, pending.gateway_ref)
    assert isinstance(failed, GatewayRefundFailed)
    assert (failed.refund_id, failed.code, failed.gateway_ref) == (
        refund.refund_id,
        "declined",
        pending.gateway_ref,
    )


async def test_a_bank_debit_is_processing_until_the_bank_pays_it(gateway, sandbox):
    ref = await open_session(gateway)
    await sandbox.pay_later(ref)

    assert await gateway.read_checkout(ref) == GatewayProcessing(ref)
    # A complete session cannot be expired: its truth is what the caller gets.
    assert await gateway.expire_checkout(ref) == GatewayProcessing(ref)
    await sandbox.settle(ref, "succeeded")
    assert await gateway.read_checkout(ref) == GatewayPaid(ref, Money(1234, "USD"))


async def test_a_bank_debit_the_bank_refuses_is_a_failed_attempt(gateway, sandbox):
    ref = await open_session(gateway)
    await sandbox.pay_later(ref)
    await sandbox.settle(ref, "failed")

    truth = await gateway.read_checkout(ref)
    assert isinstance(truth, GatewayDeclined)
    assert (truth.gateway_ref, truth.code) == (ref, "payment_intent_payment_attempt_failed")


async def test_a_3d_secure_challenge_is_open_until_passed_and_a_failed_one_is_a_decline(
    gateway, sandbox
):
    ref = await open_session(gateway)
    await sandbox.challenge(ref)
    assert await gateway.read_checkout(ref) == GatewayOpen(ref)
    await sandbox.authenticate(ref, passed=False)
    failed = await gateway.read_checkout(ref)
    await sandbox.challenge(ref)
    await sandbox.authenticate(ref, passed=True)

    assert isinstance(failed, GatewayDeclined)
    assert failed.code == "payment_intent_authentication_failure"
    assert await gateway.read_checkout(ref) == GatewayPaid(ref, Money(1234, "USD"))


async def test_a_settled_bank_debit_is_told_by_a_webhook_naming_its_session(
    gateway, sandbox, webhook_receiver: WebhookReceiver
):
    request = checkout_request()
    ref = await open_session(gateway, request)
    await sandbox.pay_later(ref)
    await sandbox.settle(ref, "failed")

    deliveries = await webhook_receiver.wait_for(request.payment_id, lambda found: len(found) == 3)

    hints = {
        hint.event_type: hint
        for d in deliveries
        for hint in [gateway.parse_webhook(d.body, d.signature)]
    }
    assert set(hints) == {
        "checkout.session.completed",
        "payment_intent.payment_failed",
        "checkout.session.async_payment_failed",
    }
    assert hints["checkout.session.async_payment_failed"].checkout_ref == ref


async def test_webhooks_arrive_signed_and_point_at_what_changed(
    gateway, sandbox, webhook_receiver: WebhookReceiver
):
    request = checkout_request()
    ref = await open_session(gateway, request)
    await sandbox.decline(ref)
    await sandbox.pay(ref)
    refund = refund_request(request, ref, 1234)
    await gateway.create_refund(refund)

    deliveries = await webhook_receiver.wait_for(request.payment_id, lambda found: len(found) == 4)

    parsed = [gateway.parse_webhook(d.body, d.signature) for d in deliveries]
    hints = {hint.event_type: hint for hint in parsed}
    assert set(hints) == {
        "payment_intent.payment_failed",
        "checkout.session.completed",
        "refund.created",
        "refund.updated",
    }
    assert hints["checkout.session.completed"] == WebhookHint(
        hints["checkout.session.completed"].event_id,
        "checkout.session.completed",
        payment_id=request.payment_id,
        checkout_ref=ref,
    )
    assert hints["payment_intent.payment_failed"].payment_id == request.payment_id
    for refund_event in ("refund.created", "refund.updated"):
        hint = hints[refund_event]
        assert (hint.payment_id, hint.refund_id) == (request.payment_id, refund.refund_id)
    assert all(hint.event_id.startswith("evt_") for hint in hints.values())


async def test_a_duplicated_webhook_arrives_as_often_as_asked(
    gateway, sandbox, webhook_receiver: WebhookReceiver
):
    await sandbox.switches(duplicate=3)
    request = checkout_request()
    await paid_session(gateway, sandbox, request)

    await webhook_receiver.wait_for(request.payment_id, lambda found: len(found) >= 3)
    await deliveries_settle(sandbox)

    deliveries = webhook_receiver.about(request.payment_id)
    assert len(deliveries) == 3
    assert len({delivery.event["id"] for delivery in deliveries}) == 1


async def test_reversed_webhooks_are_held_and_arrive_newest_first(
    gateway, sandbox, webhook_receiver: WebhookReceiver
):
    await sandbox.switches(reverse=True)
    request = checkout_request()
    ref = await open_session(gateway, request)

    await sandbox.decline(ref)
    assert await count(sandbox, "held") == 1
    await sandbox.pay(ref)

    deliveries = await webhook_receiver.wait_for(request.payment_id, lambda found: len(found) == 2)
    assert types(deliveries) == ["checkout.session.completed", "payment_intent.payment_failed"]


async def test_a_dropped_webhook_arrives_only_when_sent_again(
    gateway, sandbox, webhook_receiver: WebhookReceiver
):
    await sandbox.switches(drop=True)
    dropped = await count(sandbox, "dropped")
    request = checkout_request()
    ref = await paid_session(gateway, sandbox, request)
    assert await count(sandbox, "dropped") == dropped + 1

    assert await control_post(sandbox, f"webhooks/resend/{ref}") == 200
    await webhook_receiver.wait_for(request.payment_id, lambda found: len(found) >= 1)
    await deliveries_settle(sandbox)

    assert types(webhook_receiver.about(request.payment_id)) == ["checkout.session.completed"]


async def test_a_webhook_answered_500_is_delivered_again(
    gateway, sandbox, webhook_receiver: WebhookReceiver
):
    request = checkout_request()
    webhook_receiver.failing.add(request.payment_id)
    await paid_session(gateway, sandbox, request)

    await webhook_receiver.wait_for(request.payment_id, lambda found: len(found) >= 2)
    webhook_receiver.failing.discard(request.payment_id)
    deliveries = await webhook_receiver.wait_for(
        request.payment_id, lambda found: found[-1].status == 200
    )

    statuses = [d.status for d in deliveries]
    assert len(statuses) >= 3 and set(statuses[:-1]) == {500}
    assert len({d.event["id"] for d in deliveries}) == 1


async def test_a_webhook_signed_with_another_secret_is_invalid(
    gateway, sandbox, webhook_receiver: WebhookReceiver
):
    await sandbox.switches(bad_signature=True)
    request = checkout_request()
    await paid_session(gateway, sandbox, request)

    [delivery] = await webhook_receiver.wait_for(request.payment_id, lambda found: len(found) == 1)
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(delivery.body, delivery.signature)


FORGED_EVENT = {
    "id": "evt_forged",
    "object": "event",
    "type": "checkout.session.completed",
    "data": {"object": {"id": "cs_test_forged", "object": "checkout.session", "metadata": {}}},
}


async def test_a_webhook_signed_with_our_secret_just_now_is_valid(gateway):
    hint = gateway.parse_webhook(*signed(FORGED_EVENT, WEBHOOK_SECRET, int(time.time())))
    assert hint == WebhookHint(
        "evt_forged", "checkout.session.completed", checkout_ref="cs_test_forged"
    )


async def test_a_webhook_is_valid_when_any_of_its_signatures_is_ours(gateway):
    """While an endpoint's secret is rolled Stripe signs with the old and the new: every v1
    signature in the header is tried."""
    now = int(time.time())
    body, ours = signed(FORGED_EVENT, WEBHOOK_SECRET, now)
    _, rolled = signed(FORGED_EVENT, "whsec_rolled", now)

    hint = gateway.parse_webhook(body, rolled + "," + ours.split(",")[1])

    assert hint.event_id == "evt_forged"


@pytest.mark.parametrize(
    "forgery",
    [
        "wrong_secret",
        "stale",
        "unsigned",
        "empty",
        "garbled",
        "another_scheme",
        "not_json",
        "not_an_object",
    ],
)
async def test_forged_stale_and_unsigned_webhooks_are_invalid(gateway, forgery: str):
    now = int(time.time())
    body, signature = {
        "wrong_secret": lambda: signed(FORGED_EVENT, "whsec_forger", now),
        "stale": lambda: signed(FORGED_EVENT, WEBHOOK_SECRET, now - 301),
        "unsigned": lambda: (json.dumps(FORGED_EVENT).encode(), None),
        "empty": lambda: (json.dumps(FORGED_EVENT).encode(), ""),
        "garbled": lambda: (json.dumps(FORGED_EVENT).encode(), "t=soon,v1=nothing"),
        # Our signature, under a scheme Stripe does not sign webhooks with.
        "another_scheme": lambda: (
            json.dumps(FORGED_EVENT).encode(),
            signed(FORGED_EVENT, WEBHOOK_SECRET, now)[1].replace("v1=", "v0="),
        ),
        "not_json": lambda: signed(b"<event/>", WEBHOOK_SECRET, now),
        "not_an_object": lambda: signed(b"[1, 2]", WEBHOOK_SECRET, now),
    }[forgery]()

    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(body, signature)


async def test_the_hosted_page_takes_a_payment_once_and_sends_the_patient_back(gateway, sandbox):
    checkout = await gateway.create_checkout(checkout_request(1234))
    ref = checkout.gateway_ref

    async with aiohttp.ClientSession() as browser:
        async with browser.get(checkout.checkout_url) as page:
            text = await page.text()
        assert page.status == 200
        assert "Consultation with Dr. Rahimi" in text and "12.34 USD" in text
        async with browser.post(
            f"{checkout.checkout_url}/decline",
            data={"decline_code": "lost_card"},
            allow_redirects=False,
        ) as declined:
            assert declined.headers["Location"] == checkout.checkout_url
        async with browser.get(checkout.checkout_url) as page:
            assert "Your card was declined." in await page.text()
        async with browser.post(f"{checkout.checkout_url}/pay", allow_redirects=False) as paid:
            assert paid.status == 303
            assert paid.headers["Location"] == f"{RETURN_URL}&session_id={ref}"
        async with browser.post(f"{checkout.checkout_url}/pay", allow_redirects=False) as again:
            assert again.status == 409

    assert (await sandbox.session(ref))["charges"] == 1
    assert await gateway.read_checkout(ref) == GatewayPaid(ref, Money(1234, "USD"))


async def test_cancel_on_the_hosted_page_returns_the_patient_to_the_cancel_url(gateway, sandbox):
    checkout = await gateway.create_checkout(checkout_request())

    async with (
        aiohttp.ClientSession() as browser,
        browser.post(f"{checkout.checkout_url}/cancel", allow_redirects=False) as cancelled,
    ):
        assert (cancelled.status, cancelled.headers["Location"]) == (303, RETURN_URL)
    # Only a way back, as on Stripe: the session stays open, its page still there.
    assert await gateway.read_checkout(checkout.gateway_ref) == GatewayOpen(checkout.gateway_ref)


async def test_a_payment_taken_with_its_answer_lost_is_found_by_reading(gateway, sandbox):
    await sandbox.switches(lose_pay=1)
    dropped = await count(sandbox, "dropped")
    checkout = await gateway.create_checkout(checkout_request())

    async with aiohttp.ClientSession() as browser:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with browser.post(f"{checkout.checkout_url}/pay", allow_redirects=False):
                pass

    assert await count(sandbox, "dropped") == dropped + 1
    assert await gateway.read_checkout(checkout.gateway_ref) == GatewayPaid(
        checkout.gateway_ref, Money(1234, "USD")
    )


async def test_an_unknown_session_is_refused(gateway, sandbox):
    with pytest.raises(GatewayRefused) as refused:
        await gateway.read_checkout("cs_test_nobody_made_this")
    assert refused.value.code == "resource_missing"


async def test_a_wrong_api_key_is_refused(sandbox_process):
    adapter = StripeGateway("sk_test_not_ours", WEBHOOK_SECRET, base_url=sandbox_process.url)
    try:
        with pytest.raises(GatewayRefused):
            await adapter.read_checkout("cs_test_any")
    finally:
        await adapter.close()


async def test_a_gateway_that_does_not_answer_is_unavailable():
    unreachable = f"http://127.0.0.1:{free_port()}"
    adapter = StripeGateway(API_KEY, WEBHOOK_SECRET, base_url=unreachable, max_network_retries=0)
    try:
        with pytest.raises(GatewayUnavailable):
            await adapter.read_checkout("cs_test_any")
    finally:
        await adapter.close()


async def test_a_dispute_is_read_with_the_payment_it_concerns_from_open_to_lost(gateway, sandbox):
    request = checkout_request()
    ref = await paid_session(gateway, sandbox, request)
    opened = await sandbox.dispute(ref, reason="product_not_received")

    truth = await gateway.read_dispute(opened["id"])
    await sandbox.close_dispute(opened["id"], "lost")
    lost = await gateway.read_dispute(opened["id"])

    assert truth == DisputeTruth(
        opened["id"],
        request.payment_id,
        Money(1234, "USD"),
        "product_not_received",
        DisputeStatus.OPEN,
        withdrawn=True,
    )
    assert (lost.status, lost.withdrawn) == (DisputeStatus.LOST, True)
    with pytest.raises(GatewayRefused) as charged_back:
        await gateway.create_refund(refund_request(request, ref, 100))
    assert charged_back.value.code == "charge_disputed"


async def test_an_inquiry_won_took_no_money_and_a_fraud_warning_names_its_payment(gateway, sandbox):
    request = checkout_request()
    ref = await paid_session(gateway, sandbox, request)
    inquiry = await sandbox.dispute(ref, inquiry=True)
    warning = await sandbox.warn_of_fraud(ref)
    await sandbox.close_dispute(inquiry["id"], "won")

    won = await gateway.read_dispute(inquiry["id"])
    warned = await gateway.read_fraud_warning(warning["id"])

    assert (won.payment_id, won.status, won.withdrawn) == (
        request.payment_id,
        DisputeStatus.WON,
        False,
    )
    assert warned == FraudWarningTruth(
        warning["id"], request.payment_id, "made_with_stolen_card", actionable=False
    )
    with pytest.raises(GatewayRefused) as missing:
        await gateway.read_dispute("dp_nothing")
    assert missing.value.code == "resource_missing"


async def test_dispute_and_fraud_warning_events_point_at_what_to_read(gateway):
    at = int(time.time())
    for kind, ref, hint_field in (
        ("dispute", "dp_1", "dispute_ref"),
        ("radar.early_fraud_warning", "issfr_1", "fraud_warning_ref"),
    ):
        event = {
            "id": f"evt_{kind}",
            "type": f"{kind}.created",
            "data": {"object": {"id": ref, "object": kind, "payment_intent": "pi_1"}},
        }
        hint = gateway.parse_webhook(*signed(event, WEBHOOK_SECRET, at))
        assert (hint.payment_id, getattr(hint, hint_field), hint.concerns_nobat) == ("", ref, True)
