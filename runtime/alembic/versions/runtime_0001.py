"""The runtime's tables, in every service database: outbox, inbox, dead letters,
idempotency keys.

Revision ID: runtime_0001
Revises:
"""

from alembic import op

from runtime.schema import create_runtime_tables, drop_runtime_tables

revision = "runtime_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op.get_bind())


def downgrade() -> None:
    drop_runtime_tables(op.get_bind())
