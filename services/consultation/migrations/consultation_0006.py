"""How many times payment was told who is paid for each consultation (PayeeAssigned).

Revision ID: consultation_0006
Revises: consultation_0005
"""

from alembic import op

revision = "consultation_0006"
down_revision = "consultation_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # consultation_0001 creates today's tables, this column among them, on a new database.
    # A consultation made before told payment nothing: its count starts at 0.
    op.execute(
        "ALTER TABLE consultations ADD COLUMN IF NOT EXISTS payee_changes integer NOT NULL"
        " DEFAULT 0 CHECK (payee_changes >= 0)"
    )
    op.execute("ALTER TABLE consultations ALTER COLUMN payee_changes DROP DEFAULT")


def downgrade() -> None:
    op.drop_column("consultations", "payee_changes")
