"""Only payment can confirm a payment: NATS lets each service state its own facts only,
and payment refuses a purchasing context's word about another context's purchase.

The stack's NATS runs with a user per service and the permissions of runtime.wiring, as
production does; these tests act with booking's credentials, as a broken-into booking
pod would.
"""

from __future__ import annotations

import asyncio
import contextlib

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.payment.v1 import events_pb2
from nobat.payment.v1 import payment_service_pb2 as ppb

from runtime.events import BOOKING, CONSULTATION, PAYMENT
from runtime.wiring import inbox_prefix
from tests.component.payment.harness import publish_as
from tests.e2e.flows import AWAITING, Caller, key, running_stack
from tests.e2e.test_consultation_flows import paid_session, prices
from tests.instants import NEW_YORK_FALL_BACK
from tests.processes import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        NEW_YORK_FALL_BACK,
        NOBAT_PAYMENT_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS="1",
    ) as stack:
        yield stack


@contextlib.asynccontextmanager
async def connected_as(stack, service: str, refusals: list[str] | None = None):
    async def on_error(exc: Exception) -> None:
        if refusals is not None:
            refusals.append(str(exc))

    nc = await nats.connect(
        stack.nats_url_as(service), inbox_prefix=inbox_prefix(service), error_cb=on_error
    )
    try:
        yield nc
    finally:
        await nc.close()


async def messages_in(stack, stream: str) -> int:
    async with connected_as(stack, "observer") as nc:
        return (await nc.jetstream().stream_info(stream)).state.messages


async def test_nats_refuses_a_client_without_credentials(stack):
    async def quiet(exc: Exception) -> None:
        pass

    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(stack.nats.url, allow_reconnect=False, connect_timeout=2, error_cb=quiet)


async def test_bookings_credentials_cannot_state_a_payment_confirmed(nobat, stack):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()
    checkout = await nobat.book(patient, slot.id)
    before = await messages_in(stack, PAYMENT.name)
    forged = events_pb2.PaymentConfirmed(
        payment_id=checkout.payment_id,
        purchase=ppb.Purchase(kind="booking", ref=checkout.id),
        patient_id=patient.subject,
        amount=checkout.price,
    )

    refusals: list[str] = []
    async with connected_as(stack, "booking", refusals) as nc:
        with pytest.raises(asyncio.TimeoutError):
            await publish_as(nc.jetstream(timeout=1), PAYMENT, forged)
    assert any("permissions violation for publish" in r.lower() for r in refusals), refusals
    assert await messages_in(stack, PAYMENT.name) == before
    reply = await patient.booking.GetCheckout(bpb.GetCheckoutRequest(checkout_id=checkout.id))
    assert reply.checkout.status == AWAITING


async def test_bookings_credentials_cannot_read_another_services_replies_or_streams(stack):
    refusals: list[str] = []
    async with connected_as(stack, "booking", refusals) as nc:
        await nc.subscribe(f"{inbox_prefix('payment')}.>")
        await nc.flush()
        with pytest.raises(asyncio.TimeoutError):
            await nc.jetstream(timeout=1).add_consumer(
                CONSULTATION.name,
                ConsumerConfig(name="sneaky", durable_name="sneaky", ack_policy=AckPolicy.EXPLICIT),
            )

        async def both_reported() -> bool:
            return len(refusals) >= 2

        await eventually(both_reported, 5, "both refusals reported")
    assert any("subscription" in r.lower() for r in refusals), refusals
    assert any("consumer.create.consultation.sneaky" in r.lower() for r in refusals), refusals


async def test_booking_asking_for_a_consultations_money_back_is_dead_lettered(nobat, stack):
    await prices(nobat)
    patient = nobat.patient()
    checkout = await paid_session(nobat, patient)
    purchase = ppb.Purchase(kind="consultation", ref=checkout.id)
    async with connected_as(stack, "booking") as nc:
        js = nc.jetstream()
        await publish_as(
            js,
            BOOKING,
            events_pb2.PurchaseRejected(
                payment_id=checkout.payment_id, purchase=purchase, reason="slot_taken"
            ),
        )
        await publish_as(
            js,
            BOOKING,
            events_pb2.RefundRequested(
                payment_id=checkout.payment_id,
                purchase=purchase,
                idempotency_key=key(),
                reason="cancelled",
            ),
        )

    async def dead_letters() -> list:
        return await nobat.rows(
            "payment",
            "SELECT subject, error FROM dead_letters WHERE error LIKE '%' || :payment || '%'",
            payment=checkout.payment_id,
        )

    await eventually(lambda: _count(dead_letters, 2), 30, "both forged requests dead-lettered")
    found = await dead_letters()
    assert sorted(subject for subject, _ in found) == [
        "nobat.booking.v1.PurchaseRejected",
        "nobat.booking.v1.RefundRequested",
    ]
    assert all("NotThePurchasersPayment" in error for _, error in found), found
    service = Caller(nobat, "service", "consultation")
    paid = await service.payment.GetPayment(ppb.GetPaymentRequest(payment_id=checkout.payment_id))
    assert paid.payment.status == ppb.PAYMENT_STATUS_SUCCEEDED
    assert list(paid.payment.refunds) == []


async def _count(rows, expected: int) -> bool:
    return len(await rows()) >= expected
