"""The measured gateway answers exactly as the gateway it wraps, and counts each call by
operation and outcome: what nobat_gateway_calls_total and the NobatGatewayErrors alert
read."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from runtime.money import Money
from services.payment.adapters.measured_gateway import MeasuredGateway
from services.payment.handlers.gateway import CheckoutRequest, Gateway, GatewayUnavailable
from tests.instants import THURSDAY_NIGHT
from tests.unit.payment.fakes import FakeGateway

REQUEST = CheckoutRequest(
    attempt_id="attempt-1",
    payment_id="payment-1",
    patient_id="patient-1",
    amount=Money(5_000, "USD"),
    description="Appointment",
    return_url="https://app.clinic.example/return",
    expires_at=THURSDAY_NIGHT,
)


def calls(operation: str, outcome: str) -> float:
    labels = {"operation": operation, "outcome": outcome}
    return REGISTRY.get_sample_value("nobat_gateway_calls_total", labels) or 0.0


def timed(operation: str) -> float:
    labels = {"operation": operation}
    return REGISTRY.get_sample_value("nobat_gateway_call_duration_seconds_count", labels) or 0.0


async def test_each_call_is_answered_as_the_gateway_answers_and_counted_by_outcome():
    fake = FakeGateway()
    measured = MeasuredGateway(fake)
    before = calls("create_checkout", "ok"), calls("read_checkout", "unavailable")
    timed_before = timed("read_checkout")

    checkout = await measured.create_checkout(REQUEST)
    assert checkout == await fake.create_checkout(REQUEST)
    fake.down = True
    with pytest.raises(GatewayUnavailable):
        await measured.read_checkout(checkout.gateway_ref)

    assert calls("create_checkout", "ok") == before[0] + 1
    assert calls("read_checkout", "unavailable") == before[1] + 1
    # A failed call took its time too: the latency panel shows a slow outage.
    assert timed("read_checkout") == timed_before + 1


def test_it_offers_everything_the_port_declares():
    """A member added to the Gateway port and not to the wrapper would fail in the
    service at its first use, not at start."""
    fake = FakeGateway()
    measured = MeasuredGateway(fake)
    declared = {name for name in vars(Gateway) if not name.startswith("_")}
    declared |= set(Gateway.__annotations__)
    assert [name for name in sorted(declared) if not hasattr(measured, name)] == []
    assert (measured.fees, measured.accepts) == (fake.fees, fake.accepts)
