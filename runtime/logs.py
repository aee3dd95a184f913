"""Structured JSON logs that carry the correlation id of the flow being served, and its
trace and span ids when tracing is on (runtime.tracing; empty when off).

The correlation id (a checkout id, a payment id) lives in a context variable, so every
log line written while serving an RPC or handling an event carries it without threading
it through every call.
"""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from runtime import tracing

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")


class _CorrelationFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id.get()
        record.trace_id, record.span_id = tracing.log_ids()
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(correlation_id)s"
            " %(trace_id)s %(span_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_CorrelationFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The NATS client and asyncpg are chatty at INFO about reconnects we already report.
    logging.getLogger("nats").setLevel(logging.WARNING)
    # The gateway's SDK logs every request's URL at INFO, checkout session ids included.
    logging.getLogger("stripe").setLevel(logging.WARNING)
