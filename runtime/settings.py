"""The settings every service process needs, read from NOBAT_* variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from runtime.auth import TokenKeys
from runtime.config import Env, InvalidSetting
from runtime.instants import CLOCK_SHIFT_SETTING, Clock, shifted_clock
from runtime.retention import Retention
from runtime.rpc import Connections
from runtime.streams import StreamLimits
from runtime.tls import TlsSettings


@dataclass(frozen=True)
class RuntimeSettings:
    database_url: str
    nats_url: str
    grpc_port: int
    metrics_port: int
    shutdown_grace: float
    duplicate_window: float
    stream_replicas: int
    ack_wait: float
    max_deliver: int
    # Whose tokens this service believes, for which roles (JSON; deploy/README.md, "Identity").
    token_issuers_file: str
    # The longest any token may live; an issuer may be given less.
    token_max_lifetime: float
    # This service's own key, for the tokens of its calls to others; None if it calls none.
    service_signing_key: TokenKeys | None
    # What its List answers' page tokens are signed with, the same on every replica.
    page_token_secret: bytes
    log_level: str
    clock: Clock
    tls: TlsSettings
    # Live streams' limits and how their news is heard (runtime.streams).
    streams: StreamLimits = field(default_factory=StreamLimits)
    # Keepalive and connection age of the gRPC server (runtime.rpc).
    connections: Connections = field(default_factory=Connections)
    # How long rows are kept past their use before housekeeping deletes them (runtime.purge).
    retention: Retention = field(default_factory=Retention)

    @classmethod
    def from_env(cls, env: Env) -> RuntimeSettings:
        streams, connections = streams_and_connections(env)
        duplicate_window = env.float("NOBAT_DUPLICATE_WINDOW_SECONDS", 120.0)
        return cls(
            database_url=env.str("NOBAT_DATABASE_URL"),
            nats_url=env.str("NOBAT_NATS_URL"),
            grpc_port=env.int("NOBAT_GRPC_PORT", 50051),
            metrics_port=env.int("NOBAT_METRICS_PORT", 9464),
            shutdown_grace=env.float("NOBAT_SHUTDOWN_GRACE_SECONDS", 10.0),
            duplicate_window=duplicate_window,
            # 3 on a three-node JetStream cluster, so a lost node loses no event.
            stream_replicas=env.int("NOBAT_STREAM_REPLICAS", 1),
            ack_wait=env.float("NOBAT_CONSUMER_ACK_WAIT_SECONDS", 30.0),
            max_deliver=env.int("NOBAT_CONSUMER_MAX_DELIVER", 20),
            token_issuers_file=env.str("NOBAT_TOKEN_ISSUERS_FILE"),
            token_max_lifetime=env.float("NOBAT_JWT_MAX_LIFETIME_SECONDS", 3600.0),
            service_signing_key=_signing_key(env),
            page_token_secret=_page_token_secret(env),
            log_level=env.str("NOBAT_LOG_LEVEL", "INFO"),
            clock=shifted_clock(timedelta(seconds=env.float(CLOCK_SHIFT_SETTING, 0.0))),
            tls=TlsSettings.from_env(env),
            streams=streams,
            connections=connections,
            retention=Retention.from_env(env, duplicate_window),
        )


def _page_token_secret(env: Env) -> bytes:
    secret = env.str("NOBAT_PAGE_TOKEN_SECRET")
    if len(secret) < 32:
        raise InvalidSetting(
            "NOBAT_PAGE_TOKEN_SECRET", "(hidden)", "at least 32 characters of random text"
        )
    return secret.encode()


def _signing_key(env: Env) -> TokenKeys | None:
    private_key = env.str("NOBAT_SERVICE_SIGNING_KEY", None)
    if private_key is None:
        return None
    return TokenKeys(
        algorithm=env.str("NOBAT_SERVICE_SIGNING_ALGORITHM", "ES256"),
        verifying_key="",
        signing_key=private_key,
        # Without a key id, verifiers can hold only this one key for the service.
        key_id=env.str("NOBAT_SERVICE_KEY_ID", ""),
    )


def streams_and_connections(env: Env) -> tuple[StreamLimits, Connections]:
    """How long live streams live and how many a user holds; how the gRPC server keeps
    its connections. The connection's grace must let a stream reach its own age."""
    default, kept = StreamLimits(), Connections()
    per_user = env.int("NOBAT_MAX_STREAMS_PER_USER", default.per_user)
    if per_user < 1:
        raise InvalidSetting("NOBAT_MAX_STREAMS_PER_USER", str(per_user), "at least 1")
    max_age = env.interval("NOBAT_MAX_STREAM_AGE_SECONDS", default.max_age)
    connections = Connections(
        keepalive_time=env.interval("NOBAT_GRPC_KEEPALIVE_SECONDS", kept.keepalive_time),
        keepalive_timeout=env.interval(
            "NOBAT_GRPC_KEEPALIVE_TIMEOUT_SECONDS", kept.keepalive_timeout
        ),
        min_client_ping_interval=env.interval(
            "NOBAT_GRPC_MIN_CLIENT_PING_SECONDS", kept.min_client_ping_interval
        ),
        max_age=env.interval("NOBAT_GRPC_MAX_CONNECTION_AGE_SECONDS", kept.max_age),
        # By default enough for the longest stream to end at its own age.
        max_age_grace=env.interval(
            "NOBAT_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS",
            max(kept.max_age_grace, max_age + 60),
        ),
    )
    if connections.max_age_grace < max_age:
        raise InvalidSetting(
            "NOBAT_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS",
            f"{connections.max_age_grace:g}",
            f"at least NOBAT_MAX_STREAM_AGE_SECONDS ({max_age:g}), or streams are cut",
        )
    streams = StreamLimits(
        per_user=per_user,
        max_age=max_age,
        safety_poll=env.interval("NOBAT_STREAM_SAFETY_POLL_SECONDS", default.safety_poll),
        # A refused caller's stream that lost its client is closed by then.
        retry_after=connections.keepalive_time + connections.keepalive_timeout,
    )
    return streams, connections
