"""Composition root of the booking service.

Doctors' schedules, slot holds, checkouts and reservations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nobat.booking.v1 import booking_service_pb2, booking_service_pb2_grpc

from runtime import entry
from runtime.config import Env
from runtime.events import BOOKING, PAYMENT
from runtime.service import ServiceProcess

SERVICE_NAME = booking_service_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name


def build(process: ServiceProcess, env: Env) -> None:
    process.add_servicer(
        booking_service_pb2_grpc.add_BookingServiceServicer_to_server,
        booking_service_pb2_grpc.BookingServiceServicer(),
        SERVICE_NAME,
        access={},
    )


def main(argv: Sequence[str] | None = None) -> None:
    entry.main(
        "booking",
        migrations=Path(__file__).parent / "migrations",
        streams=[BOOKING, PAYMENT],
        build=build,
        argv=argv,
    )
