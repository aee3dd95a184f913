"""Consultation's tables: doctors with shifts and prices, platform prices, intakes,
checkouts, clinical sessions, consultations, chat messages and the audit log.

Revision ID: consultation_0001
Revises: runtime_0001
"""

from alembic import op

from services.consultation.adapters.tables import metadata

revision = "consultation_0001"
down_revision = "runtime_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
