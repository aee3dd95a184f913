"""Two more kinds of notification: symptoms due (a paid consultation waits for them) and
a wallet topped up.

Revision ID: notification_0005
Revises: notification_0004
"""

from alembic import op

from runtime.columns import sql_list
from runtime.schema import values_added
from services.notification.domain.facts import Kind

revision = "notification_0005"
down_revision = "notification_0004"
branch_labels = None
depends_on = None

_NEW = (Kind.SYMPTOMS_DUE, Kind.WALLET_TOPPED_UP)
upgrade, _disallow = values_added("notifications", "kind", Kind, *_NEW)


def downgrade() -> None:
    # The notifications of the kinds going away go first, or the narrower check fails.
    op.execute(f"DELETE FROM notifications WHERE kind IN ({sql_list(k.value for k in _NEW)})")
    _disallow()
