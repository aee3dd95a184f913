"""The gateway port, counted and timed: every call by operation and outcome
(nobat_gateway_calls_total, nobat_gateway_call_duration_seconds).

A wrapper around any Gateway rather than code inside the Stripe adapter, so the adapter
stays about Stripe and the unit tests' fake gateway is measured the same way. Outcomes
are the port's own words: `ok`, `unavailable` (no answer or a server error: nothing
learned), `refused` (a 4xx), `error` (anything else, a bug).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from services.payment.domain.disputes import DisputeTruth, FraudWarningTruth
from services.payment.domain.settlement import GatewayRefundTruth, GatewayTruth
from services.payment.handlers.gateway import (
    Checkout,
    CheckoutRequest,
    Gateway,
    GatewayRefused,
    GatewayUnavailable,
    RefundRequest,
    WebhookHint,
)
from services.payment.metrics import GATEWAY_CALL_DURATION, GATEWAY_CALLS

T = TypeVar("T")

OPERATIONS = (
    "create_checkout",
    "read_checkout",
    "expire_checkout",
    "create_refund",
    "read_refund",
    "read_dispute",
    "read_fraud_warning",
)
OUTCOMES = ("ok", "unavailable", "refused", "error")


class _Measured:
    """One operation's timer and outcome counters, bound once."""

    def __init__(self, operation: str) -> None:
        self.duration = GATEWAY_CALL_DURATION.labels(operation)
        self.outcomes = {outcome: GATEWAY_CALLS.labels(operation, outcome) for outcome in OUTCOMES}

    async def __call__(self, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await call
            outcome = "ok"
            return result
        except GatewayUnavailable:
            outcome = "unavailable"
            raise
        except GatewayRefused:
            outcome = "refused"
            raise
        finally:
            self.duration.observe(time.perf_counter() - started)
            self.outcomes[outcome].inc()


class MeasuredGateway:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.fees = gateway.fees
        self.accepts = gateway.accepts
        self._measured = {operation: _Measured(operation) for operation in OPERATIONS}

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        return await self._measured["create_checkout"](self._gateway.create_checkout(request))

    async def read_checkout(self, checkout_ref: str) -> GatewayTruth:
        return await self._measured["read_checkout"](self._gateway.read_checkout(checkout_ref))

    async def expire_checkout(self, checkout_ref: str) -> GatewayTruth:
        return await self._measured["expire_checkout"](self._gateway.expire_checkout(checkout_ref))

    async def create_refund(self, request: RefundRequest) -> GatewayRefundTruth:
        return await self._measured["create_refund"](self._gateway.create_refund(request))

    async def read_refund(self, refund_id: str, gateway_ref: str) -> GatewayRefundTruth:
        measured = self._measured["read_refund"]
        return await measured(self._gateway.read_refund(refund_id, gateway_ref))

    async def read_dispute(self, gateway_ref: str) -> DisputeTruth:
        return await self._measured["read_dispute"](self._gateway.read_dispute(gateway_ref))

    async def read_fraud_warning(self, gateway_ref: str) -> FraudWarningTruth:
        measured = self._measured["read_fraud_warning"]
        return await measured(self._gateway.read_fraud_warning(gateway_ref))

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookHint:
        # Local work, no call: the webhook's verdict is counted by the endpoint.
        return self._gateway.parse_webhook(payload, signature)
