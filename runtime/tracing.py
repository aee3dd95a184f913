"""Tracing with OpenTelemetry: one trace from the gateway's webhook to the reservation's
commit, across services and the outbox→NATS hop. Off unless the OTEL_* variables ask.

On when OTEL_SDK_DISABLED is not "true" and either OTEL_TRACES_EXPORTER names an
exporter ("otlp" or "console"; "none" keeps it off) or an OTLP endpoint is given
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Everything else the
SDK reads itself (OTEL_SERVICE_NAME, OTEL_BSP_*, OTEL_TRACES_SAMPLER, OTEL_PROPAGATORS …).

When off, nothing is instrumented: no provider, no interceptor, no middleware, no header.
The hot paths (the consumer, the unit of work's commit, the relay, runtime.sql's
statements, periodic jobs) test `enabled`, a module global, and take their untraced way
without making anything: #16's performance is measured on this code.

When on, a fact's trace travels with it: the unit of work writes the `traceparent` of
its commit's span into each outbox row's headers (the JSON column the row already has),
the relay publishes each row in a span that is that one's child and sends its own
context on to NATS, and the consumer handles the message in a span that is the
publish span's child. So the relay, whichever replica and however late it publishes,
and the consumer, whenever it reads, join the trace of the change that caused the fact.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import propagate, trace

from runtime.config import InvalidSetting

# Read by the hot paths; set once, by `configure`, before the process starts serving.
enabled = False

_EXPORTERS = ("otlp", "console")
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_HEALTH = "grpc.health.v1.Health"
# Stripe's ids: a short prefix, an underscore, the rest (cs_test_a1B2…, pi_…, re_…).
_GATEWAY_ID = re.compile(r"/[a-z]{2,5}_[A-Za-z0-9_]+")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)
_tracer: trace.Tracer = trace.NoOpTracer()
_provider: Any = None


def exporter_wanted(environ: Mapping[str, str]) -> str | None:
    """The exporter the OTEL_* variables ask for, or None when tracing stays off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        if exporter == "none":
            return None
        if exporter not in _EXPORTERS:
            raise InvalidSetting(
                "OTEL_TRACES_EXPORTER", exporter, f"nobat exports to one of {', '.join(_EXPORTERS)}"
            )
        return exporter
    if any(environ.get(name, "").strip() for name in _ENDPOINTS):
        return "otlp"
    return None


def configure(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Installs the tracer provider and the process-wide instrumentation when the
    environment asks for tracing; whether it did. Process-wide are aiohttp's: its client
    (the gateway's SDK makes its session on first use) and its server (every
    web.Application made from now on, payment's webhooks, gets the tracing middleware,
    which reads the instrumentor's settings and so cannot be added on its own)."""
    global enabled, _tracer, _provider
    exporter = exporter_wanted(environ)
    if exporter is None:
        return False
    # Imported here: a process that does not trace never loads the SDK.
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    # OTEL_SERVICE_NAME, when set, overrides the service's own name (Resource.create).
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "nobat"})
    )
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider, url_filter=gateway_url)
    AioHttpServerInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    _tracer = provider.get_tracer("nobat")
    enabled = True
    return True


def gateway_url(url: Any) -> str:
    """The gateway's URL as a span keeps it: its objects' ids (a checkout session's, a
    refund's), kept out of the logs too (runtime.logs), become `{id}`; no query."""
    return f"{url.origin()}{_GATEWAY_ID.sub('/{id}', url.path)}"


def shutdown() -> None:
    """Exports what is still buffered; at the end of the process."""
    if _provider is not None:
        _provider.shutdown()


def server_interceptors() -> list:
    """The gRPC server's tracing interceptor, first in line; none when off."""
    if not enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    # Probes call health every few seconds: a trace each would bury the flows.
    return [aio_server_interceptor(filter_=filters.negate(filters.service_name(_HEALTH)))]


def client_interceptors() -> list:
    """Interceptors that send the caller's trace along with its calls; none when off."""
    if not enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return aio_client_interceptors()


def trace_engine(sync_engine: Any) -> None:
    """A span for every statement the engine runs; nothing when off. Per engine, not
    SQLAlchemyInstrumentor's patching of create_engine: ours is imported before tracing
    is configured, and a process may have several."""
    if not enabled:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    # The pool-usage counter the tracer keeps is the metrics SDK's business; nobat's
    # metrics are Prometheus's (runtime.metrics), so it goes to the no-op meter.
    usage = get_meter("nobat").create_up_down_counter("db.client.connections.usage")
    EngineTracer(_tracer, sync_engine, usage)


@contextlib.contextmanager
def committing(events: list[dict]) -> Iterator[None]:
    """The span of a unit's commit; the context of its span goes into the headers of the
    events it writes, so that whoever publishes and handles them continues this trace."""
    with _tracer.start_as_current_span(
        "commit", attributes={"nobat.events": [event["event_type"] for event in events]}
    ):
        for event in events:
            propagate.inject(event["headers"])
        yield


@contextlib.contextmanager
def publishing(subject: str, headers: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """The relay's span for publishing one outbox row, a child of the commit that wrote
    it; yields the headers to publish, which carry this span on to the consumer."""
    with _tracer.start_as_current_span(
        f"publish {subject}",
        context=propagate.extract(headers),
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.system": "nats", "messaging.destination.name": subject},
    ):
        sent = dict(headers)
        propagate.inject(sent)
        yield sent


def consuming(subject: str, consumer: str, headers: Mapping[str, str]) -> Any:
    """The span of handling one message, a child of the span that published it."""
    return _tracer.start_as_current_span(
        f"process {subject}",
        context=propagate.extract(headers),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "messaging.consumer.group.name": consumer,
        },
    )


def job(name: str) -> Any:
    """The span of one run of a periodic job, so its statements are one trace."""
    return _tracer.start_as_current_span(f"job {name}")


def statement(sql: str) -> Any:
    """The span of one statement run by asyncpg itself (runtime.sql), described as
    SQLAlchemy's instrumentation describes its own (db.system, db.statement) and named by
    its verb and table; the text has placeholders, never values."""
    return _tracer.start_as_current_span(
        _statement_name(sql),
        kind=trace.SpanKind.CLIENT,
        attributes={"db.system": "postgresql", "db.statement": sql},
    )


@functools.lru_cache(maxsize=1024)
def _statement_name(sql: str) -> str:
    """`INSERT outbox`, `UPDATE payments`: the verb and the first table it names (the
    statements are runtime.sql's compiled few, so the cache holds them all)."""
    verb = sql.split(None, 1)[0].upper()
    table = _TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table else verb


def log_ids() -> tuple[str, str]:
    """The current trace and span ids as hex, for a log line; empty when off or outside
    any span."""
    if not enabled:
        return "", ""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
