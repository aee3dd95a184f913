"""Notification's tables: contacts, the doctors' directory, feeds, notifications and
deliveries.

Revision ID: notification_0001
Revises: runtime_0001
"""

from alembic import op

from services.notification.adapters.tables import metadata

revision = "notification_0001"
down_revision = "runtime_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
