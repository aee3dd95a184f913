"""How long each kind of row is kept past its use (runtime.purge deletes it after), read
from NOBAT_* settings. Plain values: handlers carry them in their settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from runtime.config import Env, InvalidSetting

# How long a JetStream stream keeps a message (runtime.messaging); the inbox rows that make
# its redelivery harmless are kept as long.
STREAM_MAX_AGE = 30 * 24 * 3600

# A client that lost an answer retries within a day (DESIGN.md, "API conventions"), and a
# checkout must outlive the day a late payment may take to be settled.
AT_LEAST = timedelta(hours=24)


@dataclass(frozen=True)
class Retention:
    # How long a repeated request is answered from its key instead of acting again.
    idempotency_keys: timedelta = timedelta(days=7)
    # How long inbox rows, and published outbox rows, outlive their event's publication.
    messages: timedelta = timedelta(seconds=STREAM_MAX_AGE + 120)
    # How long an expired checkout, or an intake nobody bought, stays answerable.
    expired: timedelta = timedelta(days=30)
    # Rows one DELETE takes, and the most batches of one table one run takes.
    batch: int = 500
    max_batches: int = 20
    # How often housekeeping runs, in seconds. The windows are days: a run minutes late
    # deletes the same rows, and one every few seconds would only be statements for nothing.
    every: float = 300.0

    @classmethod
    def from_env(cls, env: Env, duplicate_window: float) -> Retention:
        """`duplicate_window`: the streams' (NOBAT_DUPLICATE_WINDOW_SECONDS)."""
        defaults = cls()
        return cls(
            idempotency_keys=_at_least_a_day(
                env, "NOBAT_IDEMPOTENCY_KEEP_SECONDS", defaults.idempotency_keys
            ),
            messages=timedelta(seconds=STREAM_MAX_AGE + duplicate_window),
            expired=_at_least_a_day(env, "NOBAT_EXPIRED_KEEP_SECONDS", defaults.expired),
            batch=env.limit("NOBAT_PURGE_BATCH", defaults.batch),
            every=env.interval("NOBAT_PURGE_INTERVAL_SECONDS", defaults.every),
        )


def _at_least_a_day(env: Env, name: str, default: timedelta) -> timedelta:
    value = env.seconds(name, default)
    if value < AT_LEAST:
        raise InvalidSetting(name, f"{value.total_seconds():g}", "at least 86400 (24 h)")
    return value
