"""Composition root of the consultation service.

Intake and triage, clinical sessions, consultations and chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nobat.consultation.v1 import consultation_service_pb2, consultation_service_pb2_grpc

from runtime import entry
from runtime.config import Env
from runtime.events import CONSULTATION, PAYMENT
from runtime.service import ServiceProcess

SERVICE_NAME = consultation_service_pb2.DESCRIPTOR.services_by_name["ConsultationService"].full_name


def build(process: ServiceProcess, env: Env) -> None:
    process.add_servicer(
        consultation_service_pb2_grpc.add_ConsultationServiceServicer_to_server,
        consultation_service_pb2_grpc.ConsultationServiceServicer(),
        SERVICE_NAME,
        access={},
    )


def main(argv: Sequence[str] | None = None) -> None:
    entry.main(
        "consultation",
        migrations=Path(__file__).parent / "migrations",
        streams=[CONSULTATION, PAYMENT],
        build=build,
        argv=argv,
    )
