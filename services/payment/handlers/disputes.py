"""Disputes and early fraud warnings, from the gateway's webhooks.

Neither carries nobat's metadata: each is read from the gateway (with the payment
intent it concerns, whose metadata names nobat's payment), and acted on under the
payment's row lock, inside the webhook's unit of work. Like a payment's settling, it
follows the gateway's truth, not the event: a dispute's events in any order and any
number move its case once (domain/disputes.py).
"""

from __future__ import annotations

import contextlib

from purchasing.kinds import FRAUD_WARNING
from services.payment import metrics
from services.payment.domain.audit import GATEWAY
from services.payment.domain.disputes import (
    Dispute,
    FraudWarning,
    dispute_id,
    fraud_refund_key,
)
from services.payment.domain.errors import (
    NothingLeftToRefund,
    PaymentNotCaptured,
    TopUpNotRefundable,
)
from services.payment.handlers.context import Context
from services.payment.handlers.payments import load
from services.payment.handlers.recording import post
from services.payment.handlers.refunds import RefundPayment, void_locked
from services.payment.handlers.unit_of_work import PaymentUnit


async def follow_dispute(ctx: Context, uow: PaymentUnit, gateway_ref: str) -> None:
    """Opens, moves or closes the payment's case for the gateway's dispute
    (PaymentNotFound when it names a payment nobat never made)."""
    truth = await ctx.gateway.read_dispute(gateway_ref)
    if not truth.payment_id:
        return
    payment = await load(uow, truth.payment_id, None, lock=True)
    now = ctx.clock()
    known = await uow.disputes.get(dispute_id(payment.id, gateway_ref))
    dispute = known or Dispute.open(truth, now)
    payouts = await uow.payouts.of_payment(payment.id, for_update=True)
    for transaction in dispute.follow(truth, payouts, now):
        await post(uow, transaction)
    await uow.disputes.save(dispute)
    for payout in payouts:
        await uow.payouts.save(payout)


async def heed_fraud_warning(ctx: Context, uow: PaymentUnit, gateway_ref: str) -> None:
    """Records the warning and, when the setting says so and the warning is actionable,
    refunds what is left of the payment and voids its purchase (one refund per payment,
    however often warned)."""
    truth = await ctx.gateway.read_fraud_warning(gateway_ref)
    if not truth.payment_id:
        return
    payment = await load(uow, truth.payment_id, None, lock=True)
    refund_id = ""
    # A charge already disputed is the bank's to settle: Stripe refuses to refund it
    # (charge_disputed), and a lost dispute gives the money back. A refund asked now would
    # fail, and the purchase voided with it would leave the patient, should the clinic win,
    # having paid for nothing.
    disputed = await uow.disputes.hold(payment.id)
    if ctx.settings.refund_on_fraud_warning and truth.actionable and not disputed:
        asked = RefundPayment(
            payment.id, fraud_refund_key(payment.id), None, FRAUD_WARNING, actor=GATEWAY
        )
        # Nothing left to give back, or nothing ever taken: the warning is recorded only.
        with contextlib.suppress(NothingLeftToRefund, PaymentNotCaptured, TopUpNotRefundable):
            refund, made = await void_locked(ctx, uow, payment, asked)
            refund_id = refund.id
            if made:
                metrics.REFUNDS.labels(FRAUD_WARNING).inc()
    await uow.fraud_warnings.remember(FraudWarning.of(truth, ctx.clock(), refund_id))
