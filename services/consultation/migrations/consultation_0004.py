"""The outbox's NOTIFY trigger goes: its relay no longer listens (runtime.schema).

Revision ID: consultation_0004
Revises: consultation_0003
"""

from runtime.schema import outbox_notify_dropped

revision = "consultation_0004"
down_revision = "consultation_0003"
upgrade, downgrade = outbox_notify_dropped()
