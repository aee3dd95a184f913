"""Composition root of the payment service.

Payment intents, the gateway, refunds, the ledger, wallets and payouts: reads the
configuration, builds the gateway adapter and the handlers' context, and wires the gRPC
servicer, the webhook endpoint, the consumer and the periodic jobs into the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from pathlib import Path

from nobat.payment.v1 import payment_service_pb2, payment_service_pb2_grpc

from purchasing.kinds import purchasers
from runtime import entry
from runtime.config import DEVELOPMENT, Env
from runtime.retention import Retention
from runtime.return_urls import ReturnUrls
from runtime.service import ServiceProcess
from services.payment.adapters.measured_gateway import MeasuredGateway
from services.payment.adapters.stripe_gateway import StripeGateway
from services.payment.adapters.unit_of_work import PaymentUnitOfWork
from services.payment.domain.fees import GatewayFees
from services.payment.domain.gateway_calls import GatewayCallLimits
from services.payment.domain.payouts import FeeBearer, PayoutRules
from services.payment.domain.reconciliation import ReconcileSchedule
from services.payment.domain.rounding import Rate
from services.payment.entrypoints.events import event_handlers
from services.payment.entrypoints.servicer import ACCESS, DESCRIBED, PaymentServicer
from services.payment.entrypoints.webhooks import webhook_app
from services.payment.handlers import JOBS
from services.payment.handlers.context import Context, PaymentSettings
from services.payment.handlers.jobs import count_payments
from services.payment.metrics import ORPHAN_PAYMENTS, show_tally

SERVICE_NAME = payment_service_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name


def payment_settings(env: Env, retention: Retention | None = None) -> PaymentSettings:
    defaults = PaymentSettings()
    schedule = defaults.reconcile
    rules = defaults.payouts
    limits = defaults.gateway_calls
    hosts = env.str("NOBAT_RETURN_URL_HOSTS")
    return_urls = ReturnUrls.parse(hosts, development=env.bool(DEVELOPMENT, False))
    return PaymentSettings(
        default_ttl=env.seconds("NOBAT_PAYMENT_TTL_SECONDS", defaults.default_ttl),
        pending_grace=env.seconds("NOBAT_PAYMENT_PENDING_GRACE_SECONDS", defaults.pending_grace),
        orphan_grace=env.seconds("NOBAT_PAYMENT_ORPHAN_GRACE_SECONDS", defaults.orphan_grace),
        default_return_url=return_urls.default(
            "NOBAT_PAYMENT_RETURN_URL", env.str("NOBAT_PAYMENT_RETURN_URL")
        ),
        return_urls=return_urls,
        reconcile=ReconcileSchedule(
            first=env.seconds("NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS", schedule.first),
            then_every=env.seconds("NOBAT_PAYMENT_RECONCILE_EVERY_SECONDS", schedule.then_every),
        ),
        gateway_calls=GatewayCallLimits(
            check_every=env.seconds("NOBAT_PAYMENT_GATEWAY_CHECK_SECONDS", limits.check_every),
            attempts=env.limit("NOBAT_PAYMENT_MAX_ATTEMPTS", limits.attempts),
            window=env.seconds("NOBAT_PAYMENT_ATTEMPT_WINDOW_SECONDS", limits.window),
        ),
        payouts=PayoutRules(
            platform_fee=Rate.percent(env.str("NOBAT_PLATFORM_FEE_PERCENT", "3")),
            hold=env.seconds("NOBAT_PAYOUT_HOLD_SECONDS", rules.hold),
            gateway_fee_on_refund=FeeBearer(
                env.str("NOBAT_GATEWAY_FEE_ON_REFUND", rules.gateway_fee_on_refund.value)
            ),
        ),
        refund_on_fraud_warning=env.bool(
            "NOBAT_REFUND_ON_FRAUD_WARNING", defaults.refund_on_fraud_warning
        ),
        retention=retention or defaults.retention,
    )


def gateway_fees(env: Env) -> GatewayFees:
    """The gateway's price list; Stripe's standard card price by default."""
    return GatewayFees(
        Rate.percent(env.str("NOBAT_GATEWAY_FEE_PERCENT", "2.9")),
        Decimal(env.str("NOBAT_GATEWAY_FEE_FIXED", "0.30")),
    )


def build(process: ServiceProcess[PaymentUnitOfWork], env: Env) -> None:
    gateway = StripeGateway(
        api_key=env.str("NOBAT_GATEWAY_API_KEY"),
        webhook_secret=env.str("NOBAT_GATEWAY_WEBHOOK_SECRET"),
        base_url=env.str("NOBAT_GATEWAY_BASE_URL"),
        fees=gateway_fees(env),
    )
    process.on_shutdown(gateway.close)
    ctx = Context(
        process.unit_of_work,
        MeasuredGateway(gateway),
        payment_settings(env, process.settings.retention),
        clock=process.settings.clock,
        orphans=ORPHAN_PAYMENTS.set,
        tallied=show_tally,
    )
    process.add_servicer(
        payment_service_pb2_grpc.add_PaymentServiceServicer_to_server,
        PaymentServicer(ctx),
        SERVICE_NAME,
        access=ACCESS,
        described=DESCRIBED,
    )
    process.serve_http(webhook_app(ctx), env.int("NOBAT_WEBHOOK_PORT", 8080))
    # Each purchasing context's stream, and the one kind of purchase it may speak of: a new
    # kind is registered there, not wired here.
    for stream, purchaser in purchasers():
        process.consume(stream, event_handlers(ctx, purchaser))

    interval = env.float("NOBAT_PAYMENT_JOB_INTERVAL_SECONDS", 5.0)
    for name, job in JOBS.items():
        process.every(interval, partial(job, ctx), name)
    # Counting every payment by state reads the whole table: less often than the jobs.
    tally_every = env.float("NOBAT_PAYMENT_TALLY_SECONDS", 30.0)
    process.every(tally_every, partial(count_payments, ctx), "count-payments")


def main(argv: Sequence[str] | None = None) -> None:
    entry.main(
        "payment",
        migrations=Path(__file__).parent / "migrations",
        build=build,
        unit=PaymentUnitOfWork,
        argv=argv,
    )
