"""Payment's tables: intents, attempts, refunds, the ledger, wallets, payouts, webhooks.

Revision ID: payment_0001
Revises: runtime_0001
"""

from alembic import op

from services.payment.adapters.tables import metadata

revision = "payment_0001"
down_revision = "runtime_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
    op.execute("DROP FUNCTION IF EXISTS ledger_transaction_balances()")
