"""A signing secret per contact with a webhook, instead of one secret for every receiver.

Revision ID: notification_0002
Revises: notification_0001
"""

from alembic import op

from services.notification.adapters.tables import metadata, signing_secrets

revision = "notification_0002"
down_revision = "notification_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # notification_0001 creates today's tables, this one among them, on a new database;
    # only a database made before it lacks the table.
    metadata.create_all(op.get_bind(), tables=[signing_secrets], checkfirst=True)


def downgrade() -> None:
    signing_secrets.drop(op.get_bind())
