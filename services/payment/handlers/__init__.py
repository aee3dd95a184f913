"""Payment on one screen: what its callers ask for, what the purchasing contexts tell it,
and what it does on its own. The servicer, the consumers, the webhook endpoint and
bootstrap read these tables."""

from __future__ import annotations

from runtime.handling import Handler
from services.payment.handlers.jobs import (
    ReleasePayout,
    RepublishConfirmation,
    expire_payments,
    reconcile,
    release_payout,
    release_payouts,
    republish_confirmation,
    republish_orphans,
)
from services.payment.handlers.payees import PayeeAssigned, payee_assigned
from services.payment.handlers.payments import (
    ConfirmPayment,
    CreatePayment,
    ExpirePayment,
    RetryPayment,
    SettlePayment,
    TopUpWallet,
    confirm_payment,
    create_payment,
    expire_payment,
    retry_payment,
    settle_payment,
    top_up_wallet,
)
from services.payment.handlers.refunds import (
    PurchaseFulfilled,
    PurchaseRejected,
    RefundPayment,
    RefundRequested,
    purchase_fulfilled,
    purchase_rejected,
    refund_payment,
    refund_requested,
)
from services.payment.handlers.webhooks import ActOnWebhook, act_on_webhook

COMMANDS: dict[type, Handler] = {
    CreatePayment: create_payment,
    RetryPayment: retry_payment,
    SettlePayment: settle_payment,
    ConfirmPayment: confirm_payment,
    ExpirePayment: expire_payment,
    TopUpWallet: top_up_wallet,
    RefundPayment: refund_payment,
    ReleasePayout: release_payout,
    RepublishConfirmation: republish_confirmation,
    ActOnWebhook: act_on_webhook,
}

# The purchasing contexts' outcomes, each about its own kind of purchase.
EVENTS: dict[type, Handler] = {
    PurchaseRejected: purchase_rejected,
    RefundRequested: refund_requested,
    PurchaseFulfilled: purchase_fulfilled,
    PayeeAssigned: payee_assigned,
}

JOBS = {
    "reconcile": reconcile,
    "expire-payments": expire_payments,
    "release-payouts": release_payouts,
    "republish-orphans": republish_orphans,
}
