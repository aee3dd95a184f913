"""Composition root of the booking service.

Doctors' schedules, slot holds, checkouts and reservations: reads the configuration,
builds the payment client and the handlers' context, and wires the gRPC servicer, the
consumer of payment's events and the expiry sweeper into the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from nobat.booking.v1 import booking_service_pb2, booking_service_pb2_grpc

from clients.payment import payment_client
from runtime import entry
from runtime.config import DEVELOPMENT, Env
from runtime.events import PAYMENT
from runtime.retention import Retention
from runtime.return_urls import ReturnUrls
from runtime.service import ServiceProcess
from services.booking.adapters.unit_of_work import BookingUnitOfWork
from services.booking.domain.cancellation import NoticePolicy
from services.booking.entrypoints.events import event_handlers
from services.booking.entrypoints.servicer import ACCESS, DESCRIBED, MULTI_LINE, BookingServicer
from services.booking.handlers import JOBS
from services.booking.handlers.context import BookingSettings, Context

SERVICE_NAME = booking_service_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name


def booking_settings(env: Env, retention: Retention | None = None) -> BookingSettings:
    defaults = BookingSettings()
    hosts = env.str("NOBAT_RETURN_URL_HOSTS")
    return_urls = ReturnUrls.parse(hosts, development=env.bool(DEVELOPMENT, False))
    return BookingSettings(
        hold_ttl=env.seconds("NOBAT_BOOKING_HOLD_SECONDS", defaults.hold_ttl),
        max_open_checkouts=env.limit(
            "NOBAT_BOOKING_MAX_OPEN_CHECKOUTS", defaults.max_open_checkouts
        ),
        notice_policy=NoticePolicy.parse(env.str("NOBAT_BOOKING_NOTICE_POLICY", "24h:100,2h:50")),
        default_return_url=return_urls.default(
            "NOBAT_BOOKING_RETURN_URL", env.str("NOBAT_BOOKING_RETURN_URL")
        ),
        return_urls=return_urls,
        unknown_checkout_after=env.seconds(
            "NOBAT_BOOKING_UNKNOWN_CHECKOUT_SECONDS", defaults.unknown_checkout_after
        ),
        retention=retention or defaults.retention,
    )


def build(process: ServiceProcess[BookingUnitOfWork], env: Env) -> None:
    payments = payment_client(process, env)
    ctx = Context(
        process.unit_of_work,
        payments,
        booking_settings(env, process.settings.retention),
        clock=process.settings.clock,
    )
    process.add_servicer(
        booking_service_pb2_grpc.add_BookingServiceServicer_to_server,
        BookingServicer(ctx),
        SERVICE_NAME,
        access=ACCESS,
        multi_line=MULTI_LINE,
        described=DESCRIBED,
    )
    process.consume(PAYMENT, event_handlers(ctx))

    interval = env.float("NOBAT_BOOKING_JOB_INTERVAL_SECONDS", 5.0)
    for name, job in JOBS.items():
        process.every(interval, partial(job, ctx), name)


def main(argv: Sequence[str] | None = None) -> None:
    entry.main(
        "booking",
        migrations=Path(__file__).parent / "migrations",
        build=build,
        unit=BookingUnitOfWork,
        argv=argv,
    )
