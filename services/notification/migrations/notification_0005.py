"""Two more kinds of notification: symptoms due (a paid consultation waits for them) and
a wallet topped up.

Revision ID: notification_0005
Revises: notification_0004
"""

from alembic import op

from runtime.columns import sql_list
from services.notification.domain.facts import Kind

revision = "notification_0005"
down_revision = "notification_0004"
branch_labels = None
depends_on = None

_NEW = (Kind.SYMPTOMS_DUE, Kind.WALLET_TOPPED_UP)


def _kinds_allowed(kinds) -> None:
    # The column's CHECK (runtime.columns.one_of) under PostgreSQL's own name for it,
    # replaced whole: notification_0001 makes today's on a new database, which this
    # writes again unchanged.
    op.execute("ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_kind_check")
    op.execute(
        "ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check"
        f" CHECK (kind IN ({sql_list(k.value for k in kinds)}))"
    )


def upgrade() -> None:
    _kinds_allowed(Kind)


def downgrade() -> None:
    op.execute(f"DELETE FROM notifications WHERE kind IN ({sql_list(k.value for k in _NEW)})")
    _kinds_allowed(k for k in Kind if k not in _NEW)
