"""Tracing is off unless the OTEL_* variables ask for it, and then nothing is traced and no
header is added; on, a fact carries its trace from the commit that wrote it, through the
relay's publish, to the consumer's handling (runtime.tracing)."""

from __future__ import annotations

import logging

import pytest
import yarl
from google.protobuf.wrappers_pb2 import StringValue
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime import db, logs, tracing
from runtime.config import InvalidSetting
from runtime.events import PAYMENT
from runtime.relay import OutboxRelay


@pytest.mark.parametrize(
    ("environ", "exporter"),
    [
        ({}, None),
        ({"OTEL_SERVICE_NAME": "payment"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, None),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, "otlp"),
    ],
)
def test_tracing_is_on_only_when_an_exporter_or_an_endpoint_is_named(environ, exporter):
    assert tracing.exporter_wanted(environ) == exporter


def test_an_exporter_nobat_cannot_use_is_refused_by_name():
    with pytest.raises(InvalidSetting, match="OTEL_TRACES_EXPORTER"):
        tracing.exporter_wanted({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_a_gateway_url_is_traced_without_the_ids_of_its_objects():
    url = yarl.URL("https://api.stripe.com:443/v1/checkout/sessions/cs_test_a1B2c3/expire?x=1")
    assert tracing.gateway_url(url) == "https://api.stripe.com/v1/checkout/sessions/{id}/expire"
    url = yarl.URL("http://127.0.0.1:8111/v1/refunds")
    assert tracing.gateway_url(url) == "http://127.0.0.1:8111/v1/refunds"


class _Session:
    async def commit(self) -> None:
        pass

    async def rollback(self) -> None:
        pass

    async def close(self) -> None:
        pass


class _JetStream:
    def __init__(self) -> None:
        self.published: list[dict] = []

    async def publish(self, subject, payload, headers, timeout):
        self.published.append(headers)


@pytest.fixture
def outbox(monkeypatch) -> list[dict]:
    """The rows units of work write to the outbox, kept here instead of in PostgreSQL."""
    written: list[dict] = []

    async def write_many(session, statement, rows):
        written.extend(rows)

    monkeypatch.setattr(db.sql, "write_many", write_many)
    return written


async def commit_one_event() -> None:
    uow = db.UnitOfWork(lambda: _Session(), PAYMENT)  # type: ignore[arg-type, return-value]
    async with uow:
        uow.emit(StringValue(value="confirmed"))
        await uow.commit()


def log_record(service: str) -> logging.LogRecord:
    """A log line as the services' handler fills it in (runtime.logs)."""
    record = logging.LogRecord("nobat", logging.INFO, __file__, 1, "a line", None, None)
    logs._CorrelationFilter(service).filter(record)
    return record


async def test_with_no_otel_variables_nothing_is_traced_and_no_header_added(outbox):
    assert tracing.configure("payment", {}) is False
    assert not tracing.enabled
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert tracing.server_interceptors() == [] and tracing.client_interceptors() == []

    # Even inside someone else's span (a library's, say), nobat adds nothing of its own.
    with TracerProvider().get_tracer("another").start_as_current_span("outer"):
        await commit_one_event()
        js = _JetStream()
        [row] = outbox
        await OutboxRelay(None, js)._publish(row["subject"], row["payload"], row["headers"])  # type: ignore[arg-type]
        record = log_record("payment")
    assert "traceparent" not in row["headers"]
    assert "traceparent" not in js.published[0]
    assert (record.trace_id, record.span_id) == ("", "")  # type: ignore[attr-defined]


@pytest.fixture
def spans(monkeypatch) -> InMemorySpanExporter:
    """Tracing on, into memory, without installing a provider for the whole process."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "enabled", True)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


async def test_a_fact_carries_its_trace_from_the_commit_to_the_consumer(outbox, spans):
    await commit_one_event()
    [row] = outbox
    js = _JetStream()
    await OutboxRelay(None, js)._publish(row["subject"], row["payload"], row["headers"])  # type: ignore[arg-type]
    [sent] = js.published
    with tracing.consuming(row["subject"], "booking", sent):
        record = log_record("booking")

    commit, publish, process = spans.get_finished_spans()
    assert (commit.name, publish.name, process.name) == (
        "commit",
        "publish nobat.payment.v1.StringValue",
        "process nobat.payment.v1.StringValue",
    )
    assert publish.parent.span_id == commit.context.span_id
    assert process.parent.span_id == publish.context.span_id
    assert len({commit.context.trace_id, publish.context.trace_id, process.context.trace_id}) == 1
    # The row keeps the commit's context; what NATS carries is the publish span's.
    assert f"{commit.context.span_id:016x}" in row["headers"]["traceparent"]
    assert f"{publish.context.span_id:016x}" in sent["traceparent"]
    assert record.trace_id == f"{process.context.trace_id:032x}"  # type: ignore[attr-defined]
    assert record.span_id == f"{process.context.span_id:016x}"  # type: ignore[attr-defined]
