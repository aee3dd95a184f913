"""When ConfirmPayment last read the gateway about each payment, so it reads only so often.

Revision ID: payment_0002
Revises: payment_0001
"""

from alembic import op

revision = "payment_0002"
down_revision = "payment_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # payment_0001 creates today's tables, this column among them, on a new database; only
    # a database made before it lacks the column.
    op.execute("ALTER TABLE payments ADD COLUMN IF NOT EXISTS gateway_checked_at timestamptz")


def downgrade() -> None:
    op.drop_column("payments", "gateway_checked_at")
