"""The index the gauges of waiting payments are counted from (`payments_waiting`): the
count no longer reads the whole table every half minute on every replica.

Revision ID: payment_0007
Revises: payment_0006
"""

from runtime.schema import indexes_added
from services.payment.adapters.tables import PAYMENTS_WAITING_INDEX

revision = "payment_0007"
down_revision = "payment_0006"
upgrade, downgrade = indexes_added(PAYMENTS_WAITING_INDEX)
