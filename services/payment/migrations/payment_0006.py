"""The audit trail: each payment_statuses row names the action and actor behind it, and
the client's address and agent where a person or a service called (domain/audit.py).

Revision ID: payment_0006
Revises: payment_0005
"""

from alembic import op

from services.payment.adapters.tables import AUDIT_COLUMNS

revision = "payment_0006"
down_revision = "payment_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # payment_0001 creates today's tables on a new database; only one made before this
    # revision lacks the columns. Rows already written keep them empty: their cause was
    # never recorded, and inventing one would make the trail lie.
    for column in AUDIT_COLUMNS:
        op.execute(
            f"ALTER TABLE payment_statuses ADD COLUMN IF NOT EXISTS {column} text"
            " NOT NULL DEFAULT ''"
        )


def downgrade() -> None:
    for column in AUDIT_COLUMNS:
        op.drop_column("payment_statuses", column)
