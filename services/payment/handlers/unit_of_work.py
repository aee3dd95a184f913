"""What payment's handlers see of a transaction: payment's repositories and its outbox,
whether the database keeps them (adapters/unit_of_work.py) or a unit test's memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from runtime.unit import Unit

if TYPE_CHECKING:
    from services.payment.adapters.repository import (
        Disputes,
        FraudWarnings,
        Ledger,
        LinePayees,
        Payments,
        Payouts,
        Wallets,
        WebhookEvents,
    )


class PaymentUnit(Unit, Protocol):
    payments: Payments
    ledger: Ledger
    wallets: Wallets
    payouts: Payouts
    # Who holds each line of a payment now, where that changed.
    payees: LinePayees
    # The gateway's webhook event ids already received.
    webhooks: WebhookEvents
    # Disputes of payments (open ones hold their payouts), and early fraud warnings.
    disputes: Disputes
    fraud_warnings: FraudWarnings
