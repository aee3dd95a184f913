"""What a cardholder's bank and Stripe's Radar do to a charge after it was paid: disputes
(opened, then won or lost) and early fraud warnings. Nothing in the API makes them; the
control API stands in for the bank, as Stripe's test cards do on a test account.

A dispute's events go out with its session's (`resend` sends them again), as Stripe sends
them: `charge.dispute.created`, then `charge.dispute.funds_withdrawn` for a chargeback
(an inquiry takes no money), and `charge.dispute.closed` with
`charge.dispute.funds_reinstated` when the merchant wins a chargeback.
"""

from __future__ import annotations

from sandbox.errors import invalid_param, no_such, refused
from sandbox.objects import (
    OPEN_DISPUTE_STATUSES,
    Dispute,
    EarlyFraudWarning,
    new_id,
)
from sandbox.payments import Payments

# Stripe's dispute reasons and Radar's fraud types.
DISPUTE_REASONS = (
    "bank_cannot_process",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
FRAUD_TYPES = (
    "card_never_received",
    "fraudulent_card_application",
    "made_with_counterfeit_card",
    "made_with_lost_card",
    "made_with_stolen_card",
    "misc",
    "unauthorized_use_of_card",
)
# Stripe gives the merchant about three weeks to answer a dispute.
_EVIDENCE_SECONDS = 21 * 24 * 3600


class Disputes:
    def __init__(self, payments: Payments) -> None:
        self.payments = payments
        self.disputes: dict[str, Dispute] = {}
        self.fraud_warnings: dict[str, EarlyFraudWarning] = {}
        # The session each dispute's charge paid, whose events its own go out with.
        self._sessions: dict[str, str] = {}

    def dispute(self, dispute_id: str) -> Dispute:
        dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise no_such("dispute", dispute_id)
        return dispute

    def fraud_warning(self, warning_id: str) -> EarlyFraudWarning:
        warning = self.fraud_warnings.get(warning_id)
        if warning is None:
            raise no_such("radar.early_fraud_warning", warning_id)
        return warning

    def open(self, session_id: str, reason: str = "fraudulent", inquiry: bool = False) -> Dispute:
        """The bank disputes what is left unrefunded of the session's charge."""
        if reason not in DISPUTE_REASONS:
            raise invalid_param("reason", f"Invalid reason: must be one of {DISPUTE_REASONS}")
        session, charge = self.payments.paid_charge(session_id)
        if charge.dispute is not None:
            raise refused(None, f"Charge {charge.id} has already been disputed.")
        amount = charge.amount - charge.amount_refunded
        if amount == 0:
            raise refused("charge_already_refunded", f"Charge {charge.id} was refunded in full.")
        now = self.payments.clock.now()
        dispute = Dispute(
            new_id("dp"),
            amount,
            charge.currency,
            charge.id,
            charge.payment_intent,
            reason,
            now,
            now + _EVIDENCE_SECONDS,
            "warning_needs_response" if inquiry else "needs_response",
        )
        charge.dispute = dispute.id
        charge.charged_back = not inquiry
        self.disputes[dispute.id] = dispute
        self._sessions[dispute.id] = session.id
        self._tell(session_id, dispute, "charge.dispute.created")
        if not inquiry:
            self._tell(session_id, dispute, "charge.dispute.funds_withdrawn")
        return dispute

    def close(self, dispute_id: str, outcome: str) -> Dispute:
        """The bank decides: `won` gives the money back, `lost` keeps it. An inquiry
        closes only won (`warning_closed`): on Stripe a bank that disagrees turns it into
        a chargeback first."""
        dispute = self.dispute(dispute_id)
        if outcome not in ("won", "lost"):
            raise invalid_param("outcome", "outcome must be won or lost")
        if dispute.status not in OPEN_DISPUTE_STATUSES:
            raise refused(None, f"Dispute {dispute.id} is already closed ({dispute.status}).")
        if dispute.inquiry and outcome == "lost":
            raise invalid_param("outcome", "An inquiry is closed won, or becomes a chargeback.")
        chargeback = not dispute.inquiry
        dispute.status = outcome if chargeback else "warning_closed"
        self.payments.charge(dispute.charge).charged_back = outcome == "lost"
        session_id = self._sessions[dispute.id]
        self._tell(session_id, dispute, "charge.dispute.closed")
        if chargeback and outcome == "won":
            self._tell(session_id, dispute, "charge.dispute.funds_reinstated")
        return dispute

    def warn(self, session_id: str, fraud_type: str = "made_with_stolen_card") -> EarlyFraudWarning:
        if fraud_type not in FRAUD_TYPES:
            raise invalid_param("fraud_type", f"Invalid fraud_type: must be one of {FRAUD_TYPES}")
        session, charge = self.payments.paid_charge(session_id)
        warning = EarlyFraudWarning(
            new_id("issfr"),
            charge.id,
            charge.payment_intent,
            fraud_type,
            # Refunding can head off a dispute only while there is neither a dispute
            # nor a full refund already.
            charge.dispute is None and charge.amount_refunded < charge.amount,
            self.payments.clock.now(),
        )
        self.fraud_warnings[warning.id] = warning
        self.payments.tell(session, "radar.early_fraud_warning.created", warning.to_json())
        return warning

    def _tell(self, session_id: str, dispute: Dispute, event_type: str) -> None:
        self.payments.tell(self.payments.session(session_id), event_type, dispute.to_json())
