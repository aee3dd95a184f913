"""Paying through the sandbox gateway, end to end: the payment service as a real process,
its webhooks signed and delivered by the sandbox, its events read from JetStream."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import grpc
import pytest
from nobat.payment.v1 import events_pb2
from nobat.payment.v1 import payment_service_pb2 as pb
from prometheus_client.parser import text_string_to_metric_families

from runtime.events import BOOKING
from tests.component.payment.conftest import WEBHOOK_SECRET
from tests.component.payment.harness import key, publish_as, signed_event, usd
from tests.processes import eventually

SUCCEEDED = pb.PAYMENT_STATUS_SUCCEEDED
REQUIRES_PAYMENT = pb.PAYMENT_STATUS_REQUIRES_PAYMENT
ENTERED = "nobat_payments_entered_total"
ENTERED_AMOUNT = "nobat_payments_entered_amount_total"


def session_of(payment: pb.Payment) -> str:
    return payment.attempts[-1].gateway_ref


async def test_a_paid_checkout_confirms_the_payment_once(payment, sandbox, events):
    api = payment.api()
    created = await api.create(amount=10_000)
    assert created.status == pb.PAYMENT_STATUS_PROCESSING
    assert created.checkout_url.startswith(sandbox.url)

    await sandbox.pay(session_of(created))

    paid = await api.until(created.id, SUCCEEDED)
    assert paid.attempts[0].status == pb.ATTEMPT_STATUS_SUCCEEDED
    assert paid.checkout_url == ""
    [confirmed] = await events.wait_for(events_pb2.PaymentConfirmed, created.id)
    assert confirmed.amount == usd(10_000)
    assert confirmed.purchase == created.purchase
    # 2.9% + 0.30 of 100.00 is 3.20 for the gateway and 3% is 3.00 for the platform.
    [payout] = (
        await payment.api("doctor", "doctor-1").ListPayouts(pb.ListPayoutsRequest())
    ).payouts
    assert (payout.gross.amount_minor, payout.gateway_fee.amount_minor) == (10_000, 320)
    assert (payout.platform_fee.amount_minor, payout.net.amount_minor) == (300, 9_380)
    assert payout.status == pb.PAYOUT_STATUS_HELD
    assert await payment.unbalanced_ledger_transactions() == []


async def test_a_declined_payment_is_retried_on_the_same_intent(payment, sandbox, events):
    api = payment.api()
    created = await api.create()
    await sandbox.decline(session_of(created), "insufficient_funds")

    [failed] = await events.wait_for(events_pb2.PaymentFailed, created.id)
    assert failed.failure.code == "insufficient_funds" and failed.failure.retryable
    declined = await api.until(created.id, REQUIRES_PAYMENT)
    assert declined.attempts[0].status == pb.ATTEMPT_STATUS_FAILED

    patient = payment.api("patient", "patient-1")
    retried = (
        await patient.RetryPayment(
            pb.RetryPaymentRequest(idempotency_key=key(), payment_id=created.id)
        )
    ).payment
    assert retried.id == created.id and len(retried.attempts) == 2
    assert retried.checkout_url and retried.checkout_url != created.checkout_url
    # The declined page was closed by the retry: the patient cannot pay twice.
    assert (await sandbox.session(session_of(created)))["session"]["status"] == "expired"

    await sandbox.pay(session_of(retried))
    paid = await api.until(created.id, SUCCEEDED)
    # The declined page ends as the gateway ended it, closed (the decline was told).
    assert [a.status for a in paid.attempts] == [
        pb.ATTEMPT_STATUS_EXPIRED,
        pb.ATTEMPT_STATUS_SUCCEEDED,
    ]
    assert len(await events.wait_for(events_pb2.PaymentConfirmed, created.id)) == 1


async def test_a_patient_back_from_cancel_retries_on_a_new_page_and_pays_once(
    payment, sandbox, events
):
    """On Stripe, Cancel only leads back: the first page stays payable, so a retry must
    close it before opening another, and the money is taken once."""
    api = payment.api()
    created = await api.create()
    await sandbox.cancel(session_of(created))
    assert (await api.get(created.id)).status == pb.PAYMENT_STATUS_PROCESSING

    patient = payment.api("patient", "patient-1")
    retried = (
        await patient.RetryPayment(
            pb.RetryPaymentRequest(idempotency_key=key(), payment_id=created.id)
        )
    ).payment
    first = await sandbox.session(session_of(created))
    await sandbox.pay(session_of(retried))

    paid = await api.until(created.id, SUCCEEDED)
    assert first["session"]["status"] == "expired"
    assert [a.status for a in paid.attempts][-1] == pb.ATTEMPT_STATUS_SUCCEEDED
    assert (await sandbox.stats())["charges"] == 1
    assert len(await events.wait_for(events_pb2.PaymentConfirmed, created.id)) == 1


async def test_under_the_cancel_expires_switch_a_cancel_leaves_the_intent_open_to_retry(
    payment, sandbox, events
):
    """The "cancelled by the patient" outcome only the sandbox's switch (not Stripe)
    produces still reads as a retryable failure."""
    await sandbox.switches(cancel_expires=True)
    api = payment.api()
    created = await api.create()
    await sandbox.cancel(session_of(created))

    [failed] = await events.wait_for(events_pb2.PaymentFailed, created.id)
    assert failed.failure.code == "canceled"
    cancelled = await api.until(created.id, REQUIRES_PAYMENT)
    assert cancelled.attempts[0].status == pb.ATTEMPT_STATUS_CANCELED
    assert events.of(events_pb2.PaymentConfirmed, created.id) == []


async def test_fifty_identical_webhooks_confirm_once(payment, sandbox, events):
    api = payment.api()
    created = await api.create()
    entered = await _sample(payment, ENTERED, status="succeeded", method="gateway")
    await sandbox.switches(duplicate=50)

    await sandbox.pay(session_of(created))

    await api.until(created.id, SUCCEEDED)
    await eventually(lambda: _delivered(sandbox, 50), what="fifty deliveries of the webhook")
    await asyncio.sleep(0.5)  # let any second confirmation, if there were one, be published
    assert len(events.of(events_pb2.PaymentConfirmed, created.id)) == 1
    assert await payment.count("ledger_transactions") == 1
    assert await payment.count("webhook_events") == 1
    # An operator counts it once too.
    assert await _sample(payment, ENTERED, status="succeeded", method="gateway") == entered + 1


async def test_a_waiting_payment_is_gauged_until_it_ends_then_counted_where_it_ended(
    payment, sandbox
):
    """The gauges show what waits now; what payments ended in is counted once, as they
    enter it (GBP: no other test pays in it, so its figures are this test's alone)."""
    api = payment.api()
    waiting = {"status": "processing", "currency": "GBP"}
    created = await api.create(amount=12_345, currency="GBP")

    await eventually(
        lambda: _sample_is(payment, "nobat_payments_amount", 123.45, **waiting),
        what="£123.45 waiting",
    )
    await sandbox.pay(session_of(created))
    await api.until(created.id, SUCCEEDED)

    await eventually(
        lambda: _sample_is(payment, "nobat_payments_amount", 0, **waiting), what="nothing waiting"
    )
    assert await _sample(payment, ENTERED_AMOUNT, status="succeeded", currency="GBP") == 123.45
    assert await _sample(payment, ENTERED_AMOUNT, status="processing", currency="GBP") == (123.45)


async def _delivered(sandbox, count: int) -> bool:
    return (await sandbox.stats())["webhooks"]["delivered"] >= count


async def test_webhooks_in_reverse_order_end_in_the_same_state(payment, sandbox, events):
    api = payment.api()
    created = await api.create()
    await sandbox.switches(reverse=True)
    await sandbox.decline(session_of(created))
    await sandbox.pay(session_of(created))

    paid = await api.until(created.id, SUCCEEDED)
    assert paid.attempts[0].status == pb.ATTEMPT_STATUS_SUCCEEDED
    assert len(await events.wait_for(events_pb2.PaymentConfirmed, created.id)) == 1


@pytest.mark.parametrize("forgery", ["wrong_secret", "stale", "unsigned", "garbage"])
async def test_forged_stale_and_unsigned_webhooks_are_refused(payment, sandbox, forgery):
    api = payment.api()
    created = await api.create()
    body, signature = signed_event(created, forgery, WEBHOOK_SECRET)
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["Stripe-Signature"] = signature
    async with (
        aiohttp.ClientSession() as session,
        session.post(payment.webhook_url, data=body, headers=headers) as reply,
    ):
        assert 400 <= reply.status < 500
    assert await payment.count("webhook_events") == 0
    assert (await api.get(created.id)).status == pb.PAYMENT_STATUS_PROCESSING


async def test_a_dropped_webhook_is_made_good_by_the_return_path(payment, sandbox, events):
    created = await payment.api().create()
    await sandbox.switches(drop=True)
    await sandbox.pay(session_of(created))

    patient = payment.api("patient", "patient-1")
    confirmed = (
        await patient.ConfirmPayment(
            pb.ConfirmPaymentRequest(
                idempotency_key=key(), payment_id=created.id, gateway_ref=session_of(created)
            )
        )
    ).payment
    assert confirmed.status == SUCCEEDED
    assert len(await events.wait_for(events_pb2.PaymentConfirmed, created.id)) == 1


async def test_reconciliation_confirms_when_webhook_and_return_are_lost(payment, sandbox, events):
    created = await payment.api().create()
    await sandbox.switches(drop=True)
    await sandbox.pay(session_of(created))

    # Nobody tells payment; its reconciliation job asks the gateway on its own.
    await payment.api().until(created.id, SUCCEEDED, timeout=30)
    assert len(await events.wait_for(events_pb2.PaymentConfirmed, created.id)) == 1


async def test_a_lost_gateway_answer_makes_one_checkout_session(payment, sandbox):
    await sandbox.switches(lose_response=1)
    created = await payment.api().create()

    assert created.checkout_url
    assert (await sandbox.stats())["sessions"] == 1


async def test_a_payment_captured_after_its_expiry_is_still_confirmed(payment, sandbox, events):
    api = payment.api()
    created = await api.create(expires_in=timedelta(seconds=2))
    # The patient pays, but the gateway then goes dark: no webhook, no API. Payment can
    # neither hear of the capture nor close the session, so after the grace period it
    # expires the intent.
    await sandbox.switches(drop=True)
    await sandbox.pay(session_of(created))
    await sandbox.switches(api_down=True)
    await api.until(created.id, pb.PAYMENT_STATUS_EXPIRED, timeout=30)
    await events.wait_for(events_pb2.PaymentExpired, created.id)

    await sandbox.switches(api_down=False)
    paid = await api.until(created.id, SUCCEEDED, timeout=30)
    assert paid.confirmed_at.ToDatetime() > paid.expires_at.ToDatetime()
    assert len(await events.wait_for(events_pb2.PaymentConfirmed, created.id)) == 1


async def test_an_unpaid_intent_expires_and_its_session_is_closed(payment, sandbox, events):
    api = payment.api()
    created = await api.create(expires_in=timedelta(seconds=1))

    await api.until(created.id, pb.PAYMENT_STATUS_EXPIRED, timeout=30)
    await events.wait_for(events_pb2.PaymentExpired, created.id)
    assert (await sandbox.session(session_of(created)))["session"]["status"] == "expired"


async def test_a_patient_never_sees_another_patients_payment(payment):
    created = await payment.api().create(patient="patient-1")
    stranger = payment.api("patient", "patient-2")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stranger.get(created.id)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stranger.RetryPayment(
            pb.RetryPaymentRequest(idempotency_key=key(), payment_id=created.id)
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stranger.ListPayments(pb.ListPaymentsRequest())
    assert list(listed.payments) == []


async def test_the_same_idempotency_key_gives_the_same_payment(payment):
    api = payment.api()
    same_key, ref = key(), key()
    first = await api.create(idempotency_key=same_key, ref=ref)
    again = await api.create(idempotency_key=same_key, ref=ref)
    assert again == first

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.create(idempotency_key=same_key, ref=ref, amount=5_000)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await payment.count("payments") == 1


@pytest.mark.payment_env(NOBAT_PAYMENT_ORPHAN_GRACE_SECONDS="1")
async def test_orphans_are_published_again_until_fulfilled(payment, sandbox, events, js):
    api = payment.api()
    created = await api.create()
    await sandbox.pay(session_of(created))
    await api.until(created.id, SUCCEEDED)

    # Nobody fulfils it: the orphan check publishes PaymentConfirmed again.
    await events.wait_for(events_pb2.PaymentConfirmed, created.id, count=2, timeout=30)
    await eventually(lambda: _metric(payment, "nobat_orphan_payments", 1), what="orphans at 1")

    fulfilled = events_pb2.PurchaseFulfilled(payment_id=created.id, purchase=created.purchase)
    await publish_as(js, BOOKING, fulfilled)
    await eventually(lambda: _metric(payment, "nobat_orphan_payments", 0), what="orphans back at 0")
    republished = len(events.of(events_pb2.PaymentConfirmed, created.id))
    await asyncio.sleep(2.5)
    assert len(events.of(events_pb2.PaymentConfirmed, created.id)) == republished


async def _metric(payment, name: str, value: float) -> bool:
    return await _sample_is(payment, name, value)


async def _sample_is(payment, name: str, value: float, **labels: str) -> bool:
    return await _sample(payment, name, **labels) == pytest.approx(value)


async def _sample(payment, name: str, **labels: str) -> float:
    """The value of the sample `name` with `labels` on payment's /metrics; 0 if none."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{payment.metrics_port}/metrics") as reply,
    ):
        text = await reply.text()
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    ]
    return found[0] if found else 0.0


@pytest.mark.payment_env(NOBAT_PAYOUT_HOLD_SECONDS="2")
async def test_a_held_payout_is_released_after_the_hold(payment, sandbox, events):
    api = payment.api()
    created = await api.create()
    await sandbox.pay(session_of(created))
    await api.until(created.id, SUCCEEDED)

    doctor = payment.api("doctor", "doctor-1")

    async def released() -> bool:
        payouts = (await doctor.ListPayouts(pb.ListPayoutsRequest())).payouts
        return [p.status for p in payouts] == [pb.PAYOUT_STATUS_RELEASED]

    await eventually(released, 30, "the payout released")
    [event] = await events.wait_for(events_pb2.PayoutReleased, created.id)
    assert event.net.amount_minor == 9_380
    admin = payment.api("admin", "ops")
    entries = (
        await admin.ListLedgerEntries(
            pb.ListLedgerEntriesRequest(
                account=pb.LedgerAccount(
                    kind=pb.LEDGER_ACCOUNT_KIND_DOCTOR_AVAILABLE, owner_id="doctor-1"
                )
            )
        )
    ).entries
    assert [e.amount.amount_minor for e in entries] == [-9_380]
