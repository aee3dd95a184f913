"""Payment's unit of work: one transaction, with payment's repositories on it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db import UnitOfWork
from services.payment.adapters.messages import event_message
from services.payment.adapters.repository import (
    Ledger,
    Payments,
    Payouts,
    Wallets,
    WebhookEvents,
)


class PaymentUnitOfWork(UnitOfWork):
    event_message = event_message

    def repositories(self, session: AsyncSession) -> None:
        self.payments = Payments(session)
        self.ledger = Ledger(session)
        self.wallets = Wallets(session)
        self.payouts = Payouts(session)
        self.webhooks = WebhookEvents(session)

    def publish(self, *entities: object, correlation_id: str | None = None) -> None:
        """As every unit publishes, except that some of payment's facts are its own
        business (a refund to send, a capture to give back) and have no message: those
        are cleared without reaching the outbox."""
        for entity in entities:
            if entity is None:
                continue
            events = entity.events  # type: ignore[attr-defined]
            for event in events:
                message = event_message(event)
                if message is not None:
                    self.emit(message, correlation_id=correlation_id)
            events.clear()
