"""A partial index of open checkouts by patient, which the cap on a patient's open
checkouts is counted on.

Revision ID: consultation_0002
Revises: consultation_0001
"""

from services.consultation.adapters.tables import OPEN_BY_PATIENT

revision = "consultation_0002"
down_revision = "consultation_0001"
upgrade, downgrade = OPEN_BY_PATIENT.migration()
