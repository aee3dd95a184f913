"""What notification's handlers need from outside, built once by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from runtime.instants import Clock, utc_now
from runtime.retention import Retention
from services.notification.domain.contact import Channel, Locale
from services.notification.domain.delivery import RetryRules
from services.notification.handlers.ports import FeedWatch, Sender
from services.notification.handlers.unit_of_work import NotificationUnit


@dataclass(frozen=True)
class NotificationSettings:
    # For users who registered no contact.
    default_locale: Locale = Locale.FA
    # Times are told in the doctor's zone when the directory knows it, else in this one.
    default_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Tehran"))
    retry: RetryRules = field(default_factory=RetryRules)
    # The longest one send may take before it counts as failed.
    send_timeout: float = 10.0
    # Deliveries the delivery job claims per run.
    batch: int = 50
    # Webhooks to plain http and to loopback, for a receiver on a developer's machine
    # (runtime.config.DEVELOPMENT); never anything else inside the network.
    development: bool = False
    # Notifications a live stream reads per query.
    stream_batch: int = 100
    # How long rows are kept past their use (runtime.purge); bootstrap's, from the runtime's.
    retention: Retention = field(default_factory=Retention)


@dataclass(frozen=True)
class Context:
    unit_of_work: Callable[[], NotificationUnit]
    senders: Mapping[Channel, Sender]
    feed: FeedWatch
    settings: NotificationSettings = field(default_factory=NotificationSettings)
    clock: Clock = utc_now
    # Told, once they are committed, that new deliveries wait: the delivery job then runs
    # at once instead of at its next turn (bootstrap's Courier). Nothing by default.
    deliveries_waiting: Callable[[], None] = lambda: None
