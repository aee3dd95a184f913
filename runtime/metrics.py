"""Prometheus metrics shared by every service, served on each service's metrics port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

rpc_duration = Histogram(
    "nobat_rpc_duration_seconds",
    "Time to serve an RPC, by method and status code.",
    ["method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
events_published = Counter("nobat_events_published_total", "Outbox events published to JetStream.")
outbox_lag = Gauge(
    "nobat_outbox_lag_seconds", "Age of the oldest unpublished outbox event (0 when none)."
)
events_consumed = Counter(
    "nobat_events_consumed_total",
    "Events taken from JetStream, by consumer and outcome.",
    ["consumer", "outcome"],
)
redeliveries = Counter(
    "nobat_redeliveries_total", "Events received more than once, by consumer.", ["consumer"]
)
dead_letters = Counter(
    "nobat_dead_letters_total", "Events that can never be handled, by consumer.", ["consumer"]
)


def serve_metrics(port: int) -> None:
    """Expose /metrics on a background thread (prometheus-client's own server)."""
    start_http_server(port, addr="0.0.0.0")
