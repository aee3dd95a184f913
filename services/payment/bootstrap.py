"""Composition root of the payment service.

Payment intents, the gateway, refunds, the ledger and wallets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nobat.payment.v1 import payment_service_pb2, payment_service_pb2_grpc

from runtime import entry
from runtime.config import Env
from runtime.events import PAYMENT
from runtime.service import ServiceProcess

SERVICE_NAME = payment_service_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name


def build(process: ServiceProcess, env: Env) -> None:
    process.add_servicer(
        payment_service_pb2_grpc.add_PaymentServiceServicer_to_server,
        payment_service_pb2_grpc.PaymentServiceServicer(),
        SERVICE_NAME,
        access={},
    )


def main(argv: Sequence[str] | None = None) -> None:
    entry.main(
        "payment",
        migrations=Path(__file__).parent / "migrations",
        streams=[PAYMENT],
        build=build,
        argv=argv,
    )
