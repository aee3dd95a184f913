"""Disputes and early fraud warnings (domain/disputes.py).

Revision ID: payment_0008
Revises: payment_0007
"""

from alembic import op

from services.payment.adapters.tables import disputes, fraud_warnings, metadata

revision = "payment_0008"
down_revision = "payment_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # payment_0001 creates today's tables on a new database: only one made before this
    # revision lacks them.
    metadata.create_all(op.get_bind(), tables=[disputes, fraud_warnings], checkfirst=True)


def downgrade() -> None:
    op.drop_table("fraud_warnings")
    op.drop_table("disputes")
