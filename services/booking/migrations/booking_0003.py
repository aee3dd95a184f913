"""The outbox's NOTIFY trigger goes: its relay no longer listens (runtime.schema).

Revision ID: booking_0003
Revises: booking_0002
"""

from runtime.schema import outbox_notify_dropped

revision = "booking_0003"
down_revision = "booking_0002"
upgrade, downgrade = outbox_notify_dropped()
