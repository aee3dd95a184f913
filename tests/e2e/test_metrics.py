"""What an operator sees of a running nobat: after the flows a clinic has (paid, declined
and retried, abandoned, refunded, notified, a webhook forged, a gateway outage, a poisoned
event), every metric deploy/README.md documents is on some service's /metrics and has
moved; and `nobat status` / `nobat check` reach the services and databases by address,
without the local stack's manifest, as a Job in a cluster does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid

import aiohttp
import nats
import pytest
from nobat.notification.v1 import notification_service_pb2 as npb
from nobat.notification.v1 import notification_service_pb2_grpc
from nobat.payment.v1 import events_pb2
from nobat.payment.v1 import payment_service_pb2 as ppb
from prometheus_client.parser import text_string_to_metric_families

from runtime.events import BOOKING, EVENT_ID, EVENT_TYPE
from stack.local import SANDBOX_WEBHOOK_SECRET, SERVICES
from tests.component.payment.harness import signed_event
from tests.deploy.contract import ROOT
from tests.deploy.monitoring import documented
from tests.e2e.flows import (
    AWAITING,
    EXPIRED,
    QUICK_JOBS,
    Caller,
    running_stack,
    session_of,
)
from tests.instants import NEW_YEARS_EVE
from tests.processes import eventually

pytestmark = pytest.mark.e2e

# Each documented metric, the service whose /metrics shows it moving, and the labels
# (k=v,k=v) of one of its samples that must be above 0 once the flows ran (a histogram's
# `_count`).
BOOKED = "method=/nobat.booking.v1.BookingService/StartCheckout,code=OK"
MOVED = {
    "nobat_payments_entered_total": ("payment", "status=succeeded,method=gateway"),
    "nobat_payments_entered_amount_total": ("payment", "status=succeeded,currency=USD"),
    "nobat_payment_attempts_total": ("payment", "method=gateway,kind=retry"),
    "nobat_refunds_total": ("payment", ""),
    "nobat_webhooks_total": ("payment", "verdict=accepted"),
    "nobat_gateway_calls_total": ("payment", "operation=create_checkout,outcome=ok"),
    "nobat_gateway_call_duration_seconds": ("payment", "operation=read_checkout"),
    "nobat_slot_holds_total": ("booking", ""),
    # Either cause: booking's job and payment's expiry race to end an abandoned hold.
    "nobat_checkout_expiries_total": ("booking", ""),
    "nobat_notification_deliveries_total": ("notification", "channel=email,outcome=delivered"),
    "nobat_rpc_duration_seconds": ("booking", BOOKED),
    "nobat_stream_duration_seconds": ("notification", "code=CANCELLED"),
    "nobat_events_published_total": ("payment", ""),
    "nobat_events_consumed_total": ("booking", "consumer=booking,outcome=handled"),
    "nobat_redeliveries_total": ("booking", "consumer=booking,event_type=PaymentConfirmed"),
    "nobat_dead_letters_total": ("payment", "consumer=payment,event_type=PurchaseFulfilled"),
    "nobat_rows_purged_total": ("consultation", "table=outbox"),
}
# Labelled gauges that are 0 when all is well: a sample appears only once one is set (by
# the consumer's first delivery), which is how they show they moved.
SET = {"nobat_consumer_pending": ("booking", "consumer=booking")}
# Gauges that are 0 when all is well: the flows below push each off 0 for a moment, and
# a watcher polling /metrics must have seen it.
SEEN_ABOVE_ZERO = {
    # Payments waiting on the patient or the gateway (every status summed).
    "nobat_payments": "payment",
    "nobat_payments_amount": "payment",
    "nobat_orphan_payments": "payment",
    "nobat_reconciliation_backlog": "payment",
    "nobat_open_streams": "notification",
    "nobat_outbox_lag_seconds": "consultation",
}
# Each of these values of the label must have been counted too.
ALSO_COUNTED = {
    "nobat_webhooks_total": ("payment", "verdict", ("duplicate", "bad_signature", "stale")),
    "nobat_gateway_calls_total": ("payment", "outcome", ("unavailable",)),
    "nobat_payment_attempts_total": ("payment", "kind", ("first",)),
}


@pytest.fixture(scope="module")
def stack(mailbox):
    with running_stack(
        NEW_YEARS_EVE,
        **QUICK_JOBS,
        **mailbox.settings,
        NOBAT_BOOKING_HOLD_SECONDS="4",
        # Long enough for booking to wait for a checkout never stored (redeliveries) while
        # payment counts its money as an orphan (after 1 s), then have it refunded.
        NOBAT_BOOKING_UNKNOWN_CHECKOUT_SECONDS="3",
        NOBAT_PAYMENT_ORPHAN_GRACE_SECONDS="1",
        NOBAT_PAYMENT_TALLY_SECONDS="0.3",
    ) as stack:
        yield stack


Samples = list[tuple[str, dict[str, str], float]]


async def scrape(stack, service: str) -> Samples:
    url = f"http://127.0.0.1:{stack.services[service].metrics_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as reply:
        text = await reply.text()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(samples: Samples, series: str, **labels: str) -> float:
    """The sum of `series` over the samples whose labels include `labels`."""
    return sum(v for name, got, v in samples if name == series and labels.items() <= got.items())


def _labels(spec: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in spec.split(",") if pair)


class Watcher:
    """Polls /metrics in the background and keeps the highest value seen of each gauge
    that is 0 when all is well."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.highest = dict.fromkeys(SEEN_ABOVE_ZERO, 0.0)

    async def run(self) -> None:
        watched = {
            service: [m for m, s in SEEN_ABOVE_ZERO.items() if s == service]
            for service in set(SEEN_ABOVE_ZERO.values())
        }
        while True:
            for service, metrics in watched.items():
                with contextlib.suppress(aiohttp.ClientError):
                    samples = await scrape(self.stack, service)
                    for metric in metrics:
                        self.highest[metric] = max(self.highest[metric], value(samples, metric))
            await asyncio.sleep(0.1)

    async def until_seen(self, metric: str, what: str) -> None:
        async def seen() -> bool:
            return self.highest[metric] > 0

        await eventually(seen, 30, what)


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`nobat ARGV` as an operator runs it: no manifest, this checkout's code."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "--manifest", "/nonexistent/stack.json", *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_status_and_check_reach_the_services_and_databases_by_address(nobat, stack):
    await nobat.paid_checkout(nobat.patient())

    addresses = [f"--service={name}={stack.services[name].address}" for name in SERVICES]
    status = await asyncio.to_thread(cli, "status", "--json", *addresses)
    assert status.returncode == 0, status.stderr
    answer = json.loads(status.stdout)
    assert answer["healthy"] is True
    assert {s["service"]: s["status"] for s in answer["services"]} == dict.fromkeys(
        SERVICES, "SERVING"
    )

    # Given by variables, as the Job gives them.
    variables = {
        f"NOBAT_CHECK_{name.upper()}_DATABASE_URL": url for name, url in stack.database_urls.items()
    }
    variables["NOBAT_CHECK_NATS_URL"] = stack.nats_url_as("observer")
    said: list[dict] = []

    async def holds() -> bool:
        done = await asyncio.to_thread(cli, "check", "--json", env=variables)
        said[:] = [json.loads(done.stdout)]
        return done.returncode == 0

    await eventually(holds, 30, "every invariant holding")
    assert said == [{"holds": True, "violations": []}]

    # A service that does not answer makes status fail, naming it.
    gone = await asyncio.to_thread(cli, "status", "--json", "--service=payment=127.0.0.1:9")
    assert gone.returncode == 1
    [payment] = json.loads(gone.stdout)["services"]
    assert payment["status"].startswith("unreachable")


async def test_after_the_flows_every_documented_metric_is_exported_and_moved(nobat, stack, mailbox):
    moved = set(MOVED) | set(SET) | set(SEEN_ABOVE_ZERO)
    assert moved == set(documented()), "a documented metric no flow here moves"
    watcher = Watcher(stack)
    watching = asyncio.create_task(watcher.run())
    try:
        await _flows(nobat, stack, watcher)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching

    scraped = {service: await scrape(stack, service) for service in SERVICES}
    for metric, (service, labels) in MOVED.items():
        series = metric + ("_count" if documented()[metric].type == "histogram" else "")
        assert value(scraped[service], series, **_labels(labels)) > 0, f"{metric}{{{labels}}}"
    for metric, (service, labels) in SET.items():
        found = [got for name, got, _ in scraped[service] if name == metric]
        assert any(_labels(labels).items() <= got.items() for got in found), metric
    for metric, (service, label, values) in ALSO_COUNTED.items():
        for one in values:
            assert value(scraped[service], metric, **{label: one}) > 0, f"{metric} {one}"
    # Every service exports the runtime's metrics, even those its flows did not move.
    shared = [m for m in documented().values() if m.service == "all"]
    for service, samples in scraped.items():
        names = {name for name, _, _ in samples}
        for metric in shared:
            if metric.labels:
                continue  # a labelled family has no sample before its first use
            assert metric.series & names, f"{service} does not export {metric.name}"


async def _flows(nobat, stack, watcher: Watcher) -> None:
    doctor = await nobat.new_doctor()
    first, second, third, *_ = await nobat.free_slots(doctor)
    patient = nobat.patient()
    await nobat.register_email(patient)

    # Declined, retried, paid: attempts of both kinds, webhooks, a notification.
    retried, checkout = await nobat.declined_then_paid(patient, first.id)
    session_id = session_of(retried)
    await nobat.sandbox.resend(session_id)  # the gateway delivers its webhooks again

    # Webhooks a forger sends: a wrong secret, and a real signature replayed too late.
    paid = await _payment(nobat, checkout.payment_id)
    for forgery in ("wrong_secret", "stale"):
        body, signature = signed_event(paid, forgery, SANDBOX_WEBHOOK_SECRET)
        headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
        async with (
            aiohttp.ClientSession() as session,
            session.post(stack.webhook_url, data=body, headers=headers) as reply,
        ):
            assert reply.status == 400

    # Abandoned: the hold lapses and the slot goes back.
    leaving = nobat.patient()
    abandoned = await nobat.book(leaving, second.id)
    await nobat.checkout_until(leaving, abandoned.id, EXPIRED, timeout=30)

    await _stream_opened_and_left(nobat, patient, watcher)
    await _money_for_a_checkout_never_stored(nobat, watcher)
    await _a_poisoned_event(stack)
    await _an_event_stuck_in_an_outbox(nobat, watcher)
    await _an_event_published_long_ago(nobat, stack)
    await _a_gateway_outage(nobat, third, watcher)


async def _payment(nobat, payment_id: str) -> ppb.Payment:
    service = Caller(nobat, "service", "booking")
    reply = await service.payment.GetPayment(ppb.GetPaymentRequest(payment_id=payment_id))
    return reply.payment


async def _stream_opened_and_left(nobat, patient, watcher: Watcher) -> None:
    """The patient's notification feed, open a while, then closed by the app."""
    stub = notification_service_pb2_grpc.NotificationServiceStub(nobat.channel("notification"))
    stream = stub.StreamNotifications(npb.StreamNotificationsRequest(), metadata=patient.metadata)
    await watcher.until_seen("nobat_open_streams", "the feed counted as open")
    stream.cancel()


async def _money_for_a_checkout_never_stored(nobat, watcher: Watcher) -> None:
    """Paid for a checkout booking never stored: booking waits for it (redeliveries), the
    payment is an orphan meanwhile, then booking has it refunded."""
    created = await nobat.payment_for_a_checkout_never_stored()
    await watcher.until_seen("nobat_orphan_payments", "the unrecorded payment as an orphan")

    async def refunded() -> bool:
        payment = await _payment(nobat, created.id)
        return payment.status == ppb.PAYMENT_STATUS_REFUNDED

    await eventually(refunded, 30, "the payment for a never-stored checkout refunded")


async def _a_poisoned_event(stack) -> None:
    """Bytes on booking's stream that are no event: payment sets them aside."""
    nc = await nats.connect(stack.nats_url_as("booking"), inbox_prefix="_INBOX_booking")
    try:
        await nc.jetstream().publish(
            BOOKING.subject_for(events_pb2.PurchaseFulfilled),
            b"\x0f",
            headers={EVENT_ID: str(uuid.uuid4()), EVENT_TYPE: "nobat.payment.v1.PurchaseFulfilled"},
        )
    finally:
        await nc.close()


async def _an_event_stuck_in_an_outbox(nobat, watcher: Watcher) -> None:
    """An outbox row no stream takes, an hour old: consultation's relay cannot publish
    it, and its lag shows it. Removed afterwards, so nothing is left undrained."""
    await nobat.rows(
        "consultation",
        "INSERT INTO outbox (event_id, event_type, subject, payload, headers, created_at)"
        " VALUES (:event_id, 'Nothing', 'nobat.nowhere.v1.Nothing', '', '{}',"
        " now() - interval '1 hour')",
        commit=True,
        event_id=uuid.uuid4(),
    )
    try:
        await watcher.until_seen("nobat_outbox_lag_seconds", "the stuck event's lag")
    finally:
        await nobat.rows(
            "consultation",
            "DELETE FROM outbox WHERE subject = 'nobat.nowhere.v1.Nothing'",
            commit=True,
        )


async def _an_event_published_long_ago(nobat, stack) -> None:
    """An outbox row published a year ago, long past the stream's retention: housekeeping
    deletes it."""
    await nobat.rows(
        "consultation",
        "INSERT INTO outbox (event_id, event_type, subject, payload, headers, created_at,"
        " published_at) VALUES (:event_id, 'Old', 'nobat.consultation.v1.Old', '', '{}',"
        " now() - interval '1 year', now() - interval '1 year')",
        commit=True,
        event_id=uuid.uuid4(),
    )

    async def purged() -> bool:
        samples = await scrape(stack, "consultation")
        return value(samples, "nobat_rows_purged_total", table="outbox") > 0

    await eventually(purged, 30, "the year-old outbox row purged")


async def _a_gateway_outage(nobat, slot, watcher: Watcher) -> None:
    """The gateway answers nothing for a while: reconciliation falls behind."""
    checkout = await nobat.book(nobat.patient(), slot.id)
    assert checkout.status == AWAITING
    await nobat.sandbox.switches(api_down=True)
    try:
        await watcher.until_seen("nobat_reconciliation_backlog", "payments overdue a check")

        async def unanswered() -> bool:
            samples = await scrape(nobat.stack, "payment")
            return value(samples, "nobat_gateway_calls_total", outcome="unavailable") > 0

        # The SDK retries a 503 before giving up: the call ends some time after it began.
        await eventually(unanswered, 30, "a gateway call counted unavailable")
    finally:
        await nobat.sandbox.switches(api_down=False)
