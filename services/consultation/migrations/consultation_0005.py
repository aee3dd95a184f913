"""Indexes housekeeping finds rows past their use by: the inbox's by receipt, expired
checkouts' by their last change, intakes' by expiry, and the ones that let an intake be
deleted without reading every checkout and clinical session (runtime.purge).

Revision ID: consultation_0005
Revises: consultation_0004
"""

from runtime.schema import INBOX_BY_RECEIPT, indexes_added
from services.consultation.adapters.tables import EXPIRED_CHECKOUTS_INDEX, INTAKE_INDEXES

revision = "consultation_0005"
down_revision = "consultation_0004"
upgrade, downgrade = indexes_added(INBOX_BY_RECEIPT, EXPIRED_CHECKOUTS_INDEX, *INTAKE_INDEXES)
