"""A reservation can be cancelled by payment, and a checkout refunded as voided: payment
gave the money back on its own initiative (PurchaseVoided, an early fraud warning).

Revision ID: booking_0005
Revises: booking_0004
"""

from runtime.schema import one_after_another, values_added
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.checkout import RefundReason

revision = "booking_0005"
down_revision = "booking_0004"

upgrade, downgrade = one_after_another(
    values_added("reservations", "cancelled_by", CancelledBy, CancelledBy.PAYMENT),
    values_added("checkouts", "refund_reason", RefundReason, RefundReason.PURCHASE_VOIDED),
)
