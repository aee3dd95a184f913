"""The NATS connection and the JetStream topology: streams and durable consumers."""

from __future__ import annotations

import logging
import ssl

import nats
from nats.aio.client import Client
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError

from runtime.events import Stream
from runtime.retention import STREAM_MAX_AGE

log = logging.getLogger(__name__)


async def connect(
    url: str, name: str, inbox_prefix: str = "_INBOX", tls: ssl.SSLContext | None = None
) -> Client:
    """`tls`: verifies the server and presents the client's certificate (runtime.tls);
    the server's certificate must name the URL's host."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    # Unlimited reconnects: a service outlives a NATS restart; the outbox holds what
    # could not be published meanwhile and consumers resume from their durable state.
    return await nats.connect(
        url,
        name=name,
        # Each service's own, so that its NATS user may read its replies and no one else's.
        inbox_prefix=inbox_prefix,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        tls=tls,
    )


async def ensure_stream(
    js: JetStreamContext, stream: Stream, duplicate_window: float, replicas: int = 1
) -> None:
    """Create the stream, or bring its configuration up to date; safe to call at every start."""
    config = StreamConfig(
        name=stream.name,
        subjects=list(stream.subjects),
        # Several contexts read PaymentConfirmed, so messages are kept by limits, not
        # removed by the first consumer that acks them.
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        duplicate_window=duplicate_window,
        max_age=STREAM_MAX_AGE,
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        # 10058: exists with a different configuration.
        if exc.err_code != 10058:
            raise
        await js.update_stream(config)
