"""Composition root of the notification service.

Contacts, templates, deliveries and each user's inbox: reads the configuration, builds
the channels' senders, and wires the gRPC servicer (its live feed on the process's
listener), a consumer per stream it reads and the delivery job into the process.
Notification only consumes; nothing upstream waits for it (DESIGN.md, invariant 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from nobat.notification.v1 import notification_service_pb2, notification_service_pb2_grpc

from runtime import entry
from runtime.config import DEVELOPMENT, Env, InvalidSetting
from runtime.events import BOOKING, CONSULTATION, PAYMENT
from runtime.retention import Retention
from runtime.service import ServiceProcess
from services.notification.adapters.senders import LogSender, SmtpSender, WebhookSender
from services.notification.adapters.tables import FEED_CHANNEL
from services.notification.adapters.unit_of_work import NotificationUnitOfWork
from services.notification.domain.contact import Channel, Locale
from services.notification.domain.delivery import RetryRules
from services.notification.entrypoints.events import event_handlers
from services.notification.entrypoints.servicer import ACCESS, NotificationServicer
from services.notification.handlers import JOBS
from services.notification.handlers.context import Context, NotificationSettings
from services.notification.handlers.deliveries import Courier, deliver_due
from services.notification.handlers.ports import Sender

SERVICE_NAME = notification_service_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name
STREAMS = [PAYMENT, BOOKING, CONSULTATION]


def notification_settings(env: Env, retention: Retention | None = None) -> NotificationSettings:
    defaults = NotificationSettings()
    retry = defaults.retry
    locale = env.str("NOBAT_NOTIFICATION_DEFAULT_LOCALE", defaults.default_locale.value)
    if locale not in {member.value for member in Locale}:
        raise InvalidSetting("NOBAT_NOTIFICATION_DEFAULT_LOCALE", locale, "must be fa or en")
    zone = env.str("NOBAT_NOTIFICATION_TIME_ZONE", defaults.default_zone.key)
    try:
        default_zone = ZoneInfo(zone)
    except (ValueError, KeyError):
        raise InvalidSetting("NOBAT_NOTIFICATION_TIME_ZONE", zone, "not an IANA zone") from None
    send_timeout = env.float("NOBAT_NOTIFICATION_SEND_TIMEOUT_SECONDS", defaults.send_timeout)
    try:
        rules = RetryRules(
            max_attempts=env.int("NOBAT_NOTIFICATION_MAX_ATTEMPTS", retry.max_attempts),
            first_retry=env.seconds("NOBAT_NOTIFICATION_FIRST_RETRY_SECONDS", retry.first_retry),
            longest_retry=env.seconds(
                "NOBAT_NOTIFICATION_LONGEST_RETRY_SECONDS", retry.longest_retry
            ),
            # A claimed delivery stays its sender's well past the send's own time limit.
            lease=timedelta(seconds=2 * send_timeout + 5),
        )
    except ValueError as exc:
        raise InvalidSetting("NOBAT_NOTIFICATION_*_RETRY_SECONDS", "", str(exc)) from None
    return NotificationSettings(
        default_locale=Locale(locale),
        default_zone=default_zone,
        retry=rules,
        send_timeout=send_timeout,
        batch=env.int("NOBAT_NOTIFICATION_DELIVERY_BATCH", defaults.batch),
        development=env.bool(DEVELOPMENT, False),
        retention=retention or defaults.retention,
    )


def senders(
    process: ServiceProcess, env: Env, settings: NotificationSettings
) -> dict[Channel, Sender]:
    """The log sink for every channel, but e-mail through SMTP once a server is configured,
    and webhooks, signed with each contact's own secret. SMS and push have no adapter yet:
    they go to the log."""
    chosen: dict[Channel, Sender] = dict.fromkeys(Channel, LogSender())
    smtp_host = env.str("NOBAT_NOTIFICATION_SMTP_HOST", "")
    if smtp_host:
        chosen[Channel.EMAIL] = SmtpSender(
            host=smtp_host,
            port=env.int("NOBAT_NOTIFICATION_SMTP_PORT", 587),
            sender=env.str("NOBAT_NOTIFICATION_SMTP_FROM", "nobat <no-reply@nobat.local>"),
            username=env.str("NOBAT_NOTIFICATION_SMTP_USERNAME", None),
            password=env.str("NOBAT_NOTIFICATION_SMTP_PASSWORD", None),
            start_tls=env.bool("NOBAT_NOTIFICATION_SMTP_STARTTLS", None),
            timeout=settings.send_timeout,
        )
    webhooks = WebhookSender(settings.send_timeout, development=settings.development)
    process.on_shutdown(webhooks.close)
    chosen[Channel.WEBHOOK] = webhooks
    return chosen


def build(process: ServiceProcess[NotificationUnitOfWork], env: Env) -> None:
    settings = notification_settings(env, process.settings.retention)
    # Sends what a consumer committed at once; the schedule below is for retries.
    courier = Courier(lambda: deliver_due(ctx), settings.batch)
    process.on_shutdown(courier.close)
    ctx = Context(
        process.unit_of_work,
        senders(process, env, settings),
        # A committed notification NOTIFYs this channel with its user's id (adapters/tables.py).
        process.listener.channel(FEED_CHANNEL),
        settings,
        clock=process.settings.clock,
        deliveries_waiting=courier.wake,
    )
    process.add_servicer(
        notification_service_pb2_grpc.add_NotificationServiceServicer_to_server,
        NotificationServicer(ctx),
        SERVICE_NAME,
        access=ACCESS,
    )
    for stream in STREAMS:
        process.consume(stream, event_handlers(ctx, stream), f"notification-{stream.name.lower()}")
    # The courier sends new notifications at once; the schedule only finds retries and
    # leases run out, which are due no sooner than first_retry (30 s by default).
    interval = env.float("NOBAT_NOTIFICATION_DELIVERY_INTERVAL_SECONDS", 5.0)
    for name, job in JOBS.items():
        process.every(interval, partial(job, ctx), name)


def main(argv: Sequence[str] | None = None) -> None:
    entry.main(
        "notification",
        migrations=Path(__file__).parent / "migrations",
        build=build,
        unit=NotificationUnitOfWork,
        argv=argv,
    )
