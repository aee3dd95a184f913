"""Indexes housekeeping finds rows past their use by: the inbox's by receipt, expired
checkouts' by their last change (runtime.purge).

Revision ID: booking_0004
Revises: booking_0003
"""

from runtime.schema import INBOX_BY_RECEIPT, indexes_added
from services.booking.adapters.tables import EXPIRED_CHECKOUTS_INDEX

revision = "booking_0004"
down_revision = "booking_0003"
upgrade, downgrade = indexes_added(INBOX_BY_RECEIPT, EXPIRED_CHECKOUTS_INDEX)
