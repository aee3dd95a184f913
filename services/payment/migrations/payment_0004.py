"""Indexes housekeeping finds rows past their use by: the inbox's and webhook events' by
receipt (runtime.purge).

Revision ID: payment_0004
Revises: payment_0003
"""

from runtime.schema import INBOX_BY_RECEIPT, indexes_added
from services.payment.adapters.tables import WEBHOOK_EVENTS_INDEX

revision = "payment_0004"
down_revision = "payment_0003"
upgrade, downgrade = indexes_added(INBOX_BY_RECEIPT, WEBHOOK_EVENTS_INDEX)
