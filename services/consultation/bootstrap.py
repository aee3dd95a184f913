"""Composition root of the consultation service.

Intake and triage, clinical sessions, consultations and chat: reads the configuration,
loads the triage rule table, builds the payment client and the handlers' context, and
wires the gRPC servicer, the consumers (payment's news, booking's directory) and the
periodic jobs (expiries, refunds of untaken consultations, the queue) into the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from nobat.consultation.v1 import consultation_service_pb2, consultation_service_pb2_grpc

from clients.payment import payment_client
from runtime import entry
from runtime.config import DEVELOPMENT, Env
from runtime.events import BOOKING, PAYMENT
from runtime.retention import Retention
from runtime.return_urls import ReturnUrls
from runtime.service import ServiceProcess
from services.consultation.adapters.tables import CHAT_CHANNEL
from services.consultation.adapters.unit_of_work import ConsultationUnitOfWork
from services.consultation.domain.rule_table import load_rule_table
from services.consultation.entrypoints.events import directory_handlers, payment_handlers
from services.consultation.entrypoints.servicer import ACCESS, MULTI_LINE, ConsultationServicer
from services.consultation.handlers import JOBS
from services.consultation.handlers.context import ConsultationSettings, Context

SERVICE_NAME = consultation_service_pb2.DESCRIPTOR.services_by_name["ConsultationService"].full_name


def consultation_settings(env: Env, retention: Retention | None = None) -> ConsultationSettings:
    defaults = ConsultationSettings()
    hosts = env.str("NOBAT_RETURN_URL_HOSTS")
    return_urls = ReturnUrls.parse(hosts, development=env.bool(DEVELOPMENT, False))
    return ConsultationSettings(
        intake_ttl=env.seconds("NOBAT_CONSULTATION_INTAKE_SECONDS", defaults.intake_ttl),
        checkout_ttl=env.seconds("NOBAT_CONSULTATION_CHECKOUT_SECONDS", defaults.checkout_ttl),
        max_open_checkouts=env.limit(
            "NOBAT_CONSULTATION_MAX_OPEN_CHECKOUTS", defaults.max_open_checkouts
        ),
        session_ttl=env.seconds("NOBAT_CONSULTATION_SESSION_SECONDS", defaults.session_ttl),
        accept_within=env.seconds(
            "NOBAT_CONSULTATION_ACCEPT_WITHIN_SECONDS", defaults.accept_within
        ),
        default_return_url=return_urls.default(
            "NOBAT_CONSULTATION_RETURN_URL", env.str("NOBAT_CONSULTATION_RETURN_URL")
        ),
        return_urls=return_urls,
        unknown_checkout_after=env.seconds(
            "NOBAT_CONSULTATION_UNKNOWN_CHECKOUT_SECONDS", defaults.unknown_checkout_after
        ),
        retention=retention or defaults.retention,
    )


def build(process: ServiceProcess[ConsultationUnitOfWork], env: Env) -> None:
    payments = payment_client(process, env)
    ctx = Context(
        process.unit_of_work,
        payments,
        load_rule_table(),
        process.listener.channel(CHAT_CHANNEL),
        consultation_settings(env, process.settings.retention),
        clock=process.settings.clock,
    )
    process.add_servicer(
        consultation_service_pb2_grpc.add_ConsultationServiceServicer_to_server,
        ConsultationServicer(ctx),
        SERVICE_NAME,
        access=ACCESS,
        multi_line=MULTI_LINE,
    )
    process.consume(PAYMENT, payment_handlers(ctx), name="consultation")
    process.consume(BOOKING, directory_handlers(ctx), name="consultation-directory")

    interval = env.float("NOBAT_CONSULTATION_JOB_INTERVAL_SECONDS", 5.0)
    for name, job in JOBS.items():
        process.every(interval, partial(job, ctx), name)


def main(argv: Sequence[str] | None = None) -> None:
    entry.main(
        "consultation",
        migrations=Path(__file__).parent / "migrations",
        build=build,
        unit=ConsultationUnitOfWork,
        argv=argv,
    )
