"""A partial index of open checkouts by patient, which the cap on a patient's open
checkouts is counted on.

Revision ID: booking_0002
Revises: booking_0001
"""

from services.booking.adapters.tables import OPEN_BY_PATIENT

revision = "booking_0002"
down_revision = "booking_0001"
upgrade, downgrade = OPEN_BY_PATIENT.migration()
