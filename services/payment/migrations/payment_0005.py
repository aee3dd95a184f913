"""Payees follow the work: a payout per payee a line had, the one not moved on unique,
and who holds each line now (domain/payees.py).

Revision ID: payment_0005
Revises: payment_0004
"""

from alembic import op

from services.payment.adapters.tables import line_payees, payouts

revision = "payment_0005"
down_revision = "payment_0004"
branch_labels = None
depends_on = None

_INDEXES = ("payouts_per_assignment", "payouts_current")


def upgrade() -> None:
    # payment_0001 creates today's tables on a new database; only one made before this
    # revision lacks what follows, so every step is a no-op where it exists. Payouts made
    # before are their line's first payee (assignment 0).
    op.execute(
        "ALTER TABLE payouts ADD COLUMN IF NOT EXISTS assignment integer NOT NULL DEFAULT 0"
        " CHECK (assignment >= 0)"
    )
    op.execute("ALTER TABLE payouts ALTER COLUMN assignment DROP DEFAULT")
    op.execute("ALTER TABLE payouts ADD COLUMN IF NOT EXISTS moved_at timestamptz")
    bind = op.get_bind()
    for index in payouts.indexes:
        if index.name in _INDEXES:
            index.create(bind, checkfirst=True)
    op.execute("ALTER TABLE payouts DROP CONSTRAINT IF EXISTS payouts_payment_id_line_key")
    line_payees.create(bind, checkfirst=True)


def downgrade() -> None:
    line_payees.drop(op.get_bind())
    for name in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    # Back to one payout per line: a later payee's payout cannot be told apart from the
    # first's without the column, so it goes (a development rewind, not a way back for
    # a database whose payees changed).
    op.execute("DELETE FROM payouts WHERE assignment > 0")
    op.execute("ALTER TABLE payouts ADD UNIQUE (payment_id, line)")
    op.drop_column("payouts", "moved_at")
    op.drop_column("payouts", "assignment")
