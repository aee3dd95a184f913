"""A patient finds what they paid for from any device: their checkouts and clinical
sessions, newest first, each read along an index of its own.

Revision ID: consultation_0007
Revises: consultation_0006
"""

from runtime.schema import indexes_added
from services.consultation.adapters.tables import checkouts, clinical_sessions

revision = "consultation_0007"
down_revision = "consultation_0006"
branch_labels = None
depends_on = None


def _index(table, name: str):
    return next(index for index in table.indexes if index.name == name)


upgrade, downgrade = indexes_added(
    _index(checkouts, "checkouts_by_patient"),
    _index(clinical_sessions, "clinical_sessions_by_patient"),
)
