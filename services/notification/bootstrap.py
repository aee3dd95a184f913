"""Composition root of the notification service.

Contacts, templates, deliveries and each user's inbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nobat.notification.v1 import notification_service_pb2, notification_service_pb2_grpc

from runtime import entry
from runtime.config import Env
from runtime.events import BOOKING, CONSULTATION, PAYMENT
from runtime.service import ServiceProcess

SERVICE_NAME = notification_service_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name


def build(process: ServiceProcess, env: Env) -> None:
    process.add_servicer(
        notification_service_pb2_grpc.add_NotificationServiceServicer_to_server,
        notification_service_pb2_grpc.NotificationServiceServicer(),
        SERVICE_NAME,
        access={},
    )


def main(argv: Sequence[str] | None = None) -> None:
    entry.main(
        "notification",
        migrations=Path(__file__).parent / "migrations",
        streams=[PAYMENT, BOOKING, CONSULTATION],
        build=build,
        argv=argv,
    )
