"""The outbox's NOTIFY trigger goes: its relay no longer listens (runtime.schema).

Revision ID: payment_0003
Revises: payment_0002
"""

from runtime.schema import outbox_notify_dropped

revision = "payment_0003"
down_revision = "payment_0002"
upgrade, downgrade = outbox_notify_dropped()
