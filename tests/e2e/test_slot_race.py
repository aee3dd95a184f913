"""Fifty patients paying for one slot: one reservation, every other payer refunded in full.

Each patient takes the slot's hold in turn (it lapses after a fraction of a second), so
all fifty end up with a checkout and a gateway page; then they all pay at once, every
one of them after their hold has lapsed. Payment's expiry is slowed down so the pages
stay payable, as they do for a patient paying in the last second.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.payment.v1 import payment_service_pb2 as ppb

from cli import invariants
from tests.e2e.flows import CONFIRMED, REFUNDED, Nobat, running_stack
from tests.instants import LONDON_SPRING_FORWARD
from tests.processes import eventually

pytestmark = pytest.mark.e2e
PATIENTS = 50
HOLD_SECONDS = 0.2


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        LONDON_SPRING_FORWARD,
        NOBAT_BOOKING_HOLD_SECONDS=str(HOLD_SECONDS),
        NOBAT_BOOKING_JOB_INTERVAL_SECONDS="3600",
        NOBAT_PAYMENT_JOB_INTERVAL_SECONDS="3600",
    ) as stack:
        yield stack


async def take_the_hold(nobat: Nobat, patient, slot_id: str) -> bpb.Checkout:
    deadline = time.monotonic() + 30
    while True:
        try:
            return await nobat.book(patient, slot_id)
        except grpc.aio.AioRpcError as held:
            assert held.code() == grpc.StatusCode.FAILED_PRECONDITION, held.details()
            assert time.monotonic() < deadline, "the slot's hold never lapsed"
            await asyncio.sleep(HOLD_SECONDS / 4)


async def test_fifty_payers_for_one_slot_give_one_reservation_and_full_refunds(stack):
    nobat = Nobat(stack)
    try:
        doctor = await nobat.new_doctor(fee=20_000)
        [slot, *_] = await nobat.free_slots(doctor)
        patients = [nobat.patient() for _ in range(PATIENTS)]
        checkouts = [await take_the_hold(nobat, p, slot.id) for p in patients]
        await asyncio.sleep(HOLD_SECONDS)

        await asyncio.gather(*(nobat.pay(c) for c in checkouts))

        settled = await asyncio.gather(
            *(
                nobat.checkout_until(p, c.id, CONFIRMED, REFUNDED, timeout=60)
                for p, c in zip(patients, checkouts, strict=True)
            )
        )
        winners = [c for c in settled if c.status == CONFIRMED]
        assert len(winners) == 1
        assert all(
            c.refund_reason == bpb.REFUND_REASON_SLOT_TAKEN for c in settled if c not in winners
        )
        reservations = await nobat.rows(
            "booking", "SELECT count(*) FROM reservations WHERE slot_id = :s", s=slot.id
        )
        assert reservations[0][0] == 1

        async def all_refunded() -> bool:
            rows = await nobat.rows(
                "payment",
                "SELECT status, count(*) FROM payments WHERE purchase_kind = 'booking'"
                " AND purchase_ref = ANY(:refs) GROUP BY status",
                refs=[c.id for c in checkouts],
            )
            return dict(rows) == {"succeeded": 1, "refunded": PATIENTS - 1}

        await eventually(all_refunded, 60, "every other payer refunded in full")
        admin = nobat.admin()
        for checkout in settled:
            if checkout in winners:
                continue
            payment = (
                await admin.payment.GetPayment(
                    ppb.GetPaymentRequest(payment_id=checkout.payment_id)
                )
            ).payment
            assert payment.refunded == payment.amount
        unbalanced = await nobat.rows(
            "payment",
            "SELECT transaction_id FROM ledger_entries GROUP BY transaction_id, currency"
            " HAVING sum(amount_minor) <> 0",
        )
        assert unbalanced == []
        await eventually(lambda: _holds(stack), 30, "every invariant to hold")
    finally:
        await nobat.close()


async def _holds(stack) -> bool:
    return await invariants.check(stack.database_urls, stack.nats_url) == []
