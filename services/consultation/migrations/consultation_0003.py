"""A consultation whose status changes NOTIFYs its chat's channel, so a chat's live streams
end when the consultation does, instead of polling for it.

Revision ID: consultation_0003
Revises: consultation_0002
"""

from alembic import op

from services.consultation.adapters.tables import STATUS_NOTIFY

revision = "consultation_0003"
down_revision = "consultation_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # consultation_0001 makes today's tables, this trigger with them, on a new database;
    # the statements replace, so running them again changes nothing there.
    for statement in STATUS_NOTIFY:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS consultation_status_notify ON consultations")
    op.execute("DROP FUNCTION IF EXISTS consultation_status_notify()")
