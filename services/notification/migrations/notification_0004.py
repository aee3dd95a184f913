"""The index housekeeping finds inbox rows past their use by (runtime.purge).

Revision ID: notification_0004
Revises: notification_0003
"""

from runtime.schema import INBOX_BY_RECEIPT, indexes_added

revision = "notification_0004"
down_revision = "notification_0003"
upgrade, downgrade = indexes_added(INBOX_BY_RECEIPT)
