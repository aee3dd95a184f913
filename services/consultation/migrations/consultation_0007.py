"""A patient finds what they paid for from any device: their checkouts and clinical
sessions, newest first, each read along an index of its own.

Revision ID: consultation_0007
Revises: consultation_0006
"""

from alembic import op

from services.consultation.adapters.tables import checkouts, clinical_sessions

revision = "consultation_0007"
down_revision = "consultation_0006"
branch_labels = None
depends_on = None

_INDEXES = {
    checkouts: "checkouts_by_patient",
    clinical_sessions: "clinical_sessions_by_patient",
}


def upgrade() -> None:
    # consultation_0001 creates today's tables, these indexes among them, on a new
    # database; only one made before this revision lacks them.
    bind = op.get_bind()
    for table, name in _INDEXES.items():
        for index in table.indexes:
            if index.name == name:
                index.create(bind, checkfirst=True)


def downgrade() -> None:
    for name in _INDEXES.values():
        op.execute(f"DROP INDEX IF EXISTS {name}")
