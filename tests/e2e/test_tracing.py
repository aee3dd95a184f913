"""Tracing end to end: the services run as processes with tracing on, exporting to an
OTLP collector this test runs, and one paid booking is one trace from the gateway's
webhook, through payment's commit, the outbox relay and NATS, to booking's reservation."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.e2e.flows import running_stack, session_of
from tests.instants import NEW_YEARS_EVE
from tests.processes import eventually

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict

    @property
    def label(self) -> str:
        return f"{self.service}: {self.name}"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that keeps what it is sent, in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self.endpoint = ""

    def Export(self, request, context):
        received = [
            Span(
                service=_service_name(resource_spans.resource),
                name=span.name,
                kind=span.kind,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_id=span.parent_span_id.hex(),
                attributes={a.key: _value(a.value) for a in span.attributes},
            )
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self._spans += received
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    @contextmanager
    def running(self) -> Iterator[Collector]:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            server.stop(None)


def _service_name(resource) -> str:
    return next((_value(a.value) for a in resource.attributes if a.key == "service.name"), "")


def _value(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def collector():
    with Collector().running() as collector:
        yield collector


@pytest.fixture(scope="module")
def stack(collector):
    # The services inherit the test's environment (stack.local.service_environment).
    traced = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with mock.patch.dict(os.environ, traced), running_stack(NEW_YEARS_EVE) as stack:
        yield stack


def _tree(spans: list[Span]) -> list[str]:
    """The spans as an indented tree, children in the order they were received."""
    children: dict[str, list[Span]] = {}
    for span in spans:
        children.setdefault(span.parent_id, []).append(span)
    ids = {span.span_id for span in spans}
    lines: list[str] = []

    def walk(span: Span, depth: int) -> None:
        lines.append("  " * depth + span.label)
        for child in children.get(span.span_id, []):
            walk(child, depth + 1)

    for root in (span for span in spans if span.parent_id not in ids):
        walk(root, 0)
    return lines


def _commits_of(spans: list[Span], service: str, event: str) -> list[Span]:
    return [
        span
        for span in spans
        if span.service == service
        and span.name == "commit"
        and any(written.endswith(event) for written in span.attributes.get("nobat.events", []))
    ]


def _trace_of_the_reservation(spans: list[Span]) -> list[Span] | None:
    """The trace of booking's reservation commit, once every span of it has arrived: each
    service exports in its own batches, so the first spans can come before their parents."""
    reserved = _commits_of(spans, "booking", "ReservationConfirmed")
    if not reserved:
        return None
    trace = [span for span in spans if span.trace_id == reserved[0].trace_id]
    ids = {span.span_id for span in trace}
    roots = [span for span in trace if span.parent_id not in ids]
    return trace if len(roots) == 1 and not roots[0].parent_id else None


async def test_a_paid_booking_is_one_trace_from_the_webhook_to_the_reservation(nobat, collector):
    checkout = await nobat.paid_checkout(nobat.patient())

    async def whole_trace_exported() -> bool:
        return _trace_of_the_reservation(collector.spans()) is not None

    await eventually(whole_trace_exported, what="the reservation's whole trace exported")
    trace = _trace_of_the_reservation(collector.spans())
    assert trace is not None
    print("\n" + "\n".join(_tree(trace)))
    by_id = {span.span_id: span for span in trace}
    [root] = [span for span in trace if span.parent_id not in by_id]
    assert (root.service, root.name) == ("payment", "POST /webhooks/gateway")

    def under(span: Span, ancestor: Span) -> bool:
        while span.parent_id in by_id:
            span = by_id[span.parent_id]
            if span is ancestor:
                return True
        return False

    def statements(service: str, ancestor: Span) -> list[str]:
        return [
            s.attributes.get("db.statement", "")
            for s in trace
            if s.service == service and under(s, ancestor)
        ]

    [paid] = _commits_of(trace, "payment", "PaymentConfirmed")
    confirmed = "nobat.payment.v1.PaymentConfirmed.booking"
    [published] = [s for s in trace if s.name == f"publish {confirmed}"]
    [consumed] = [s for s in trace if s.service == "booking" and s.name == f"process {confirmed}"]
    [reserved] = _commits_of(trace, "booking", "ReservationConfirmed")
    # The hop: payment's commit → the relay's publish → booking's handling → its commit.
    assert by_id[published.parent_id] is paid
    assert by_id[consumed.parent_id] is published
    assert by_id[reserved.parent_id] is consumed
    # Inside the webhook payment asked the gateway for the truth (the SDK's aiohttp client)
    # and settled the payment in SQL; booking wrote the reservation while handling the event.
    assert any(s.service == "payment" and s.name == "GET" and under(s, root) for s in trace)
    assert any("UPDATE payments" in sql for sql in statements("payment", root))
    assert any("INSERT INTO outbox" in sql for sql in statements("payment", paid))
    assert any("INSERT INTO reservations" in sql for sql in statements("booking", consumed))
    # What the logs keep out, spans keep out too: the gateway's session id is `{id}`.
    session_id = session_of(checkout)
    assert session_id and session_id not in repr(collector.spans())


async def test_a_checkout_is_one_trace_from_booking_over_grpc_to_payment(nobat, collector):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    await nobat.book(nobat.patient(), slot.id)

    def chains() -> list[list[str]]:
        """Each of payment's CreatePayment server spans, with its ancestors in the trace."""
        by_id = {span.span_id: span for span in collector.spans()}
        found = []
        for span in by_id.values():
            if span.service == "payment" and span.name.endswith("/CreatePayment"):
                chain = [f"{span.label} ({span.kind})"]
                while span.parent_id in by_id:
                    span = by_id[span.parent_id]
                    chain.append(f"{span.label} ({span.kind})")
                found.append(chain)
        return found

    async def exported() -> bool:
        return len(chains()) >= 1 and all(len(chain) == 3 for chain in chains())

    await eventually(exported, what="StartCheckout's call to payment exported")
    # Server (2) in payment, client (3) in booking, inside booking's own server span.
    assert set(map(tuple, chains())) == {
        (
            "payment: /nobat.payment.v1.PaymentService/CreatePayment (2)",
            "booking: /nobat.payment.v1.PaymentService/CreatePayment (3)",
            "booking: /nobat.booking.v1.BookingService/StartCheckout (2)",
        )
    }
