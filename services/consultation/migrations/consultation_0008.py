"""A checkout or a consultation can end refunded as voided: payment gave the money back
on its own initiative (PurchaseVoided, an early fraud warning).

Revision ID: consultation_0008
Revises: consultation_0007
"""

from runtime.schema import one_after_another, values_added
from services.consultation.domain.events import RefundReason

revision = "consultation_0008"
down_revision = "consultation_0007"

upgrade, downgrade = one_after_another(
    *(
        values_added(table, "refund_reason", RefundReason, RefundReason.PURCHASE_VOIDED)
        for table in ("checkouts", "consultations")
    )
)
