"""A checkout or a consultation can end refunded as voided: payment gave the money back
on its own initiative (PurchaseVoided, an early fraud warning).

Revision ID: consultation_0008
Revises: consultation_0007
"""

from runtime.schema import values_added
from services.consultation.domain.events import RefundReason

revision = "consultation_0008"
down_revision = "consultation_0007"

_CHANGES = tuple(
    values_added(table, "refund_reason", RefundReason, RefundReason.PURCHASE_VOIDED)
    for table in ("checkouts", "consultations")
)


def upgrade() -> None:
    for change, _ in _CHANGES:
        change()


def downgrade() -> None:
    for _, change in reversed(_CHANGES):
        change()
