"""The outbox's NOTIFY trigger goes: its relay no longer listens (runtime.schema).

Revision ID: notification_0003
Revises: notification_0002
"""

from runtime.schema import outbox_notify_dropped

revision = "notification_0003"
down_revision = "notification_0002"
upgrade, downgrade = outbox_notify_dropped()
