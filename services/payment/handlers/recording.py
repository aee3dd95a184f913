"""What a change to a payment means, written in the same transaction as the change.

A handler changes a payment through the domain, which leaves facts in `payment.events`.
`follow_up` then does what those facts ask of the gateway while the payment is locked
(refunds to send, sessions to close), and `book` writes the payment, its ledger
transactions, wallet movements and payouts, and its public events to the outbox, all in
the handler's one commit.
"""

from __future__ import annotations

import logging
from datetime import datetime

from services.payment.domain.events import (
    CaptureRefunded,
    CaptureRejected,
    PaymentConfirmed,
    PaymentRefunded,
)
from services.payment.domain.ledger import AccountKind, LedgerTransaction, Memo
from services.payment.domain.payment import Payment
from services.payment.domain.postings import (
    post_confirmation,
    post_refund,
    post_rejected_capture,
)
from services.payment.domain.purchase import PaymentMethod
from services.payment.domain.reconciliation import next_check_at
from services.payment.domain.refund import Refund, RefundStatus
from services.payment.domain.settlement import (
    GatewayRefundFailed,
    GatewayRefundTruth,
    settle,
    settle_refund,
)
from services.payment.domain.wallet import WalletTransactionKind
from services.payment.handlers.context import Context
from services.payment.handlers.gateway import GatewayRefused, GatewayUnavailable, RefundRequest
from services.payment.handlers.unit_of_work import PaymentUnit

log = logging.getLogger(__name__)

# Wallet movements posted through the ledger here; a payment from the wallet is posted by
# the domain's pay_from_wallet itself.
_WALLET_KIND = {
    Memo.PAYMENT_CONFIRMED: WalletTransactionKind.TOP_UP,
    Memo.REFUND: WalletTransactionKind.REFUND,
}


async def follow_up(ctx: Context, payment: Payment, at: datetime) -> None:
    """Closes gateway sessions a closed or paid intent no longer needs, and sends refunds
    the gateway has not heard of. A gateway that cannot be reached leaves them for
    reconciliation; nothing here ever undoes the change itself."""
    for attempt in payment.sessions_to_expire:
        try:
            truth = await ctx.gateway.expire_checkout(attempt.gateway_ref)
        except GatewayUnavailable as exc:
            log.warning("could not close session %s: %s", attempt.gateway_ref, exc)
            continue
        settle(payment, truth, at)
    sent: set[str] = set()
    while unsent := [r for r in _unsent_refunds(payment) if r.id not in sent]:
        for refund in unsent:
            sent.add(refund.id)
            refunded = await send_refund(ctx, payment, refund)
            if refunded is not None:
                settle_refund(payment, refunded, at)


def _unsent_refunds(payment: Payment) -> list[Refund]:
    return [
        r
        for r in payment.refunds
        if r.via_gateway and r.status is RefundStatus.PENDING and not r.gateway_ref
    ]


async def send_refund(ctx: Context, payment: Payment, refund: Refund) -> GatewayRefundTruth | None:
    """Asks the gateway for a refund, keyed by its id: asking again after a lost answer
    finds the first refund rather than making a second one."""
    capture = payment.attempt(refund.capture_id)
    request = RefundRequest(
        refund.id,
        payment.id,
        capture.gateway_ref,
        refund.amount,
        refund.reason,
        asked_since=ctx.clock() - refund.created_at,
    )
    try:
        return await ctx.gateway.create_refund(request)
    except GatewayUnavailable as exc:
        log.warning("refund %s not sent yet: %s", refund.id, exc)
        return None
    except GatewayRefused as refused:
        log.error("the gateway refused refund %s of payment %s: %s", refund.id, payment.id, refused)
        return GatewayRefundFailed(refund.id, refused.code, refused.message)


async def book(ctx: Context, uow: PaymentUnit, payment: Payment, at: datetime) -> None:
    """Writes the payment and what its new facts mean: ledger postings, wallet movements,
    payouts, and the public events for the outbox."""
    for event in payment.events:
        match event:
            case PaymentConfirmed(method=PaymentMethod.GATEWAY):
                confirmation = post_confirmation(payment, ctx.settings.payouts, ctx.gateway.fees)
                await post(uow, confirmation.transaction)
                for payout in confirmation.payouts:
                    await uow.payouts.save(payout)
            case CaptureRejected(attempt_id=attempt_id):
                await post(uow, post_rejected_capture(payment, attempt_id, ctx.gateway.fees, at))
            case PaymentRefunded(refund_id=refund_id) | CaptureRefunded(refund_id=refund_id):
                payouts = await uow.payouts.of_payment(payment.id, for_update=True)
                await post(uow, post_refund(payment, refund_id, payouts, ctx.settings.payouts))
                for payout in payouts:
                    await uow.payouts.save(payout)
    uow.publish(payment, correlation_id=payment.purchase.ref)
    await uow.payments.save(
        payment, next_check_at=next_check_at(payment, ctx.settings.reconcile, at), at=at
    )
    if payment.purchase.is_top_up and payment.is_confirmed:
        # A top-up is fulfilled by its own confirmation: the wallet was credited above.
        await uow.payments.mark_fulfilled(payment.id, payment.purchase.kind, at)


async def post(uow: PaymentUnit, transaction: LedgerTransaction) -> None:
    """Writes a ledger transaction, moving the wallets it touches under their row locks."""
    await uow.ledger.post(transaction)
    touched: dict[str, set[str]] = {}
    for entry in transaction.entries:
        if entry.account.kind is AccountKind.PATIENT_WALLET:
            touched.setdefault(entry.account.owner_id, set()).add(entry.amount.currency)
    for patient_id, currencies in sorted(touched.items()):
        wallet = await uow.wallets.lock(patient_id, sorted(currencies), transaction.created_at)
        wallet.post(transaction, _WALLET_KIND[transaction.memo])
        await uow.wallets.save(wallet)
