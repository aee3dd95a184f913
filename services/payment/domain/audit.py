"""Who did what to a payment: the audit trail shown by ListPaymentEvents.

The trail is the payment's status history with its cause on each row: every move of
status names the action and the actor behind it, and an action taken by a person or a
service (a refund, a confirmation, a retry) is recorded even where the status stays as it
was. The system's own actions (a webhook, reconciliation, expiry) are recorded only with
the move they make, so a duplicate webhook or an idle sweep writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runtime.instants import require_utc
from services.payment.domain.payment import PaymentStatus

SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    id: str
    # "patient", "admin", "service" (a purchasing context over gRPC) or "system".
    role: str
    # The caller's network address and client agent, as the call carried them.
    client_address: str = ""
    user_agent: str = ""

    @classmethod
    def system(cls, name: str) -> Actor:
        """An event-driven actor: "gateway", "payment" (its own jobs), or the purchasing
        context whose event asked ("booking", "consultation")."""
        return cls(name, SYSTEM)


# Payment's own periodic jobs: reconciliation, expiry, payout release.
PAYMENT = Actor.system("payment")
GATEWAY = Actor.system("gateway")


@dataclass(frozen=True)
class Action:
    name: str
    actor: Actor
    # A refund's reason; empty for other actions.
    reason: str = ""

    @property
    def recorded_unmoved(self) -> bool:
        """Whether it is recorded even when the payment's status does not move."""
        return self.actor.role != SYSTEM


@dataclass(frozen=True)
class PaymentEvent:
    """One row of a payment's trail."""

    sequence: int
    payment_id: str
    status: PaymentStatus
    action: Action
    at: datetime

    def __post_init__(self) -> None:
        require_utc(self.at, "at")


# Reconciliation asking the gateway on payment's own schedule.
RECONCILE = Action("reconcile", PAYMENT)
