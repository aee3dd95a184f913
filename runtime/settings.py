"""The settings every service process needs, read from NOBAT_* variables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from runtime.auth import TokenKeys
from runtime.config import Env
from runtime.instants import CLOCK_SHIFT_SETTING, Clock, shifted_clock
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
    token_keys: TokenKeys
    token_max_lifetime: float
    # A JWKS file of further verifying keys, chosen by the token's kid; re-read on change.
    jwks_file: str | None
    log_level: str
    clock: Clock
    tls: TlsSettings

    @classmethod
    def from_env(cls, env: Env) -> RuntimeSettings:
        return cls(
            database_url=env.str("NOBAT_DATABASE_URL"),
            nats_url=env.str("NOBAT_NATS_URL"),
            grpc_port=env.int("NOBAT_GRPC_PORT", 50051),
            metrics_port=env.int("NOBAT_METRICS_PORT", 9464),
            shutdown_grace=env.float("NOBAT_SHUTDOWN_GRACE_SECONDS", 10.0),
            duplicate_window=env.float("NOBAT_DUPLICATE_WINDOW_SECONDS", 120.0),
            # 3 on a three-node JetStream cluster, so a lost node loses no event.
            stream_replicas=env.int("NOBAT_STREAM_REPLICAS", 1),
            ack_wait=env.float("NOBAT_CONSUMER_ACK_WAIT_SECONDS", 30.0),
            max_deliver=env.int("NOBAT_CONSUMER_MAX_DELIVER", 20),
            token_keys=TokenKeys(
                algorithm=env.str("NOBAT_JWT_ALGORITHM", "ES256"),
                verifying_key=env.str("NOBAT_JWT_PUBLIC_KEY"),
                signing_key=env.str("NOBAT_JWT_PRIVATE_KEY", None),
                audience=env.str("NOBAT_JWT_AUDIENCE", "nobat"),
                issuer=env.str("NOBAT_JWT_ISSUER", "nobat"),
            ),
            token_max_lifetime=env.float("NOBAT_JWT_MAX_LIFETIME_SECONDS", 3600.0),
            jwks_file=env.str("NOBAT_JWKS_FILE", None),
            log_level=env.str("NOBAT_LOG_LEVEL", "INFO"),
            clock=shifted_clock(timedelta(seconds=env.float(CLOCK_SHIFT_SETTING, 0.0))),
            tls=TlsSettings.from_env(env),
        )
