"""Payment's unit of work: one transaction, with payment's repositories on it."""

from __future__ import annotations

from runtime.db import UnitOfWork
from runtime.purge import RUNTIME
from runtime.sql import Session
from services.payment.adapters.messages import event_message
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
from services.payment.adapters.tables import WEBHOOK_EVENTS
from services.payment.metrics import count_moves


class PaymentUnitOfWork(UnitOfWork):
    purges = (*RUNTIME, WEBHOOK_EVENTS)
    event_message = event_message

    def repositories(self, session: Session) -> None:
        self.payments = Payments(session)
        self.ledger = Ledger(session)
        self.wallets = Wallets(session)
        self.payouts = Payouts(session)
        self.payees = LinePayees(session)
        self.webhooks = WebhookEvents(session, self.payments)
        self.disputes = Disputes(session)
        self.fraud_warnings = FraudWarnings(session)

    async def commit(self) -> None:
        await super().commit()
        # Counted once committed: a transaction rolled back moved nothing.
        if self._committed and self.payments.moves:
            count_moves(self.payments.moves)
            self.payments.moves = []
