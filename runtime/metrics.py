"""Prometheus metrics shared by every service, served on each service's metrics port.

Every name starts with `nobat_` and follows Prometheus's conventions (`_total` counters,
`_seconds` durations). deploy/README.md ("Metrics") lists each metric any service
exports; tests/deploy checks that list against what the code registers and against the
alerts and the dashboard, and tests/e2e/test_metrics.py scrapes every service after the
flows and checks each one moved. Hot paths take children bound once (`.labels(...)` at
start-up, not per event); anything that needs a query is counted by a periodic job.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

rpc_duration = Histogram(
    "nobat_rpc_duration_seconds",
    "Time to serve an RPC, by method and status code.",
    ["method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# A stream lives from seconds (a feed closed at once) to its maximum age (an hour by
# default, runtime.streams), so its buckets are the unary ones' scaled up.
stream_duration = Histogram(
    "nobat_stream_duration_seconds",
    "How long a server stream stayed open, by method and the status it ended with.",
    ["method", "code"],
    buckets=(0.1, 1, 10, 60, 300, 900, 1800, 3600, 7200),
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
    "nobat_redeliveries_total",
    "Events received more than once, by consumer and event type.",
    ["consumer", "event_type"],
)
dead_letters = Counter(
    "nobat_dead_letters_total",
    "Events that can never be handled, by consumer and event type.",
    ["consumer", "event_type"],
)
# JetStream tells each delivered message how many more wait behind it: the backlog at no
# cost. It is as fresh as the last delivery; a consumer that stopped fetching altogether
# shows as its pod down (`up`), not here.
consumer_pending = Gauge(
    "nobat_consumer_pending",
    "Events waiting in JetStream for this consumer, as of its last delivery.",
    ["consumer"],
)
# Dead letters without a known type (an unknown subject, no event id) are counted here.
UNKNOWN_EVENT = "unknown"


def serve_metrics(port: int) -> None:
    """Expose /metrics on a background thread (prometheus-client's own server)."""
    start_http_server(port, addr="0.0.0.0")
