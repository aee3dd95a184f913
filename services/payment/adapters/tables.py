"""Payment's tables. The rules that can live in the schema live here too, as the last word
when code is wrong: one intent per purchase, one attempt per gateway session, one refund
per key, balances never below zero, fee parts adding up, and every ledger transaction
balanced per currency when its database transaction commits.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from runtime.columns import instant, one_of, sql_list
from runtime.purge import Purge
from services.payment.domain.disputes import DisputeStatus
from services.payment.domain.payment import WAITING_STATUSES

metadata = MetaData()

# What payment_statuses says of each row's cause (domain/audit.py's Action and Actor).
AUDIT_COLUMNS = ("action", "actor_id", "actor_role", "client_address", "user_agent", "reason")


def _currency(name: str = "currency") -> Column:
    return Column(name, Text, CheckConstraint(f"{name} ~ '^[A-Z]{{3}}$'"), nullable=False)


payments = Table(
    "payments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("purchase_kind", Text, nullable=False),
    Column("purchase_ref", Text, nullable=False),
    Column("patient_id", Text, nullable=False),
    Column("amount_minor", BigInteger, CheckConstraint("amount_minor > 0"), nullable=False),
    _currency(),
    # [{payee, payee_id, amount_minor, description}], in line order; fixed at creation.
    Column("lines", JSONB, nullable=False),
    Column("method", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("return_url", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("confirmed_attempt_id", Text),
    instant("created_at", nullable=False),
    instant("expires_at", nullable=False),
    instant("confirmed_at"),
    Column("closure", Text),
    instant("closed_at"),
    instant("updated_at", nullable=False),
    # When reconciliation asks the gateway next; NULL when nothing is in doubt.
    instant("next_check_at"),
    # When the purchasing context said it delivered what was paid for.
    instant("fulfilled_at"),
    # When the orphan check last published PaymentConfirmed again.
    instant("republished_at"),
    # When ConfirmPayment last had the gateway read, which it does only so often.
    instant("gateway_checked_at"),
    UniqueConstraint("purchase_kind", "purchase_ref", name="payments_one_per_purchase"),
    CheckConstraint(
        "status IN ('requires_payment', 'processing', 'succeeded', 'canceled', 'expired',"
        " 'refund_pending', 'refunded', 'partially_refunded')",
        name="payments_status_known",
    ),
    CheckConstraint(
        "(confirmed_attempt_id IS NULL) = (confirmed_at IS NULL)", name="payments_confirmed"
    ),
    Index("payments_by_patient", "patient_id", text("created_at DESC"), "id"),
    # The periodic jobs scan only what they may act on, so their cost does not grow with
    # history.
    Index(
        "payments_due_check", "next_check_at", postgresql_where=text("next_check_at IS NOT NULL")
    ),
    Index(
        "payments_open_by_expiry",
        "expires_at",
        postgresql_where=text("status IN ('requires_payment', 'processing')"),
    ),
    Index(
        "payments_unfulfilled",
        "confirmed_at",
        postgresql_where=text("confirmed_at IS NOT NULL AND fulfilled_at IS NULL"),
    ),
)

payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("payment_id", Text, ForeignKey("payments.id"), nullable=False),
    Column("number", Integer, CheckConstraint("number > 0"), nullable=False),
    Column("method", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("gateway_ref", Text, nullable=False),
    Column("checkout_url", Text, nullable=False),
    Column("failure_code", Text),
    Column("failure_message", Text),
    Column("captured_minor", BigInteger, CheckConstraint("captured_minor > 0")),
    Column("captured_currency", Text),
    instant("created_at", nullable=False),
    instant("settled_at"),
    UniqueConstraint("payment_id", "number"),
    Index(
        "payment_attempts_one_per_session",
        "gateway_ref",
        unique=True,
        postgresql_where=text("gateway_ref <> ''"),
    ),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Text, primary_key=True),
    Column("payment_id", Text, ForeignKey("payments.id"), nullable=False),
    Column("key", Text, nullable=False),
    Column("capture_id", Text, ForeignKey("payment_attempts.id"), nullable=False),
    Column("amount_minor", BigInteger, CheckConstraint("amount_minor > 0"), nullable=False),
    _currency(),
    Column("requested_minor", BigInteger),
    Column("reason", Text, nullable=False),
    Column("destination", Text, nullable=False),
    Column("via_gateway", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("gateway_ref", Text, nullable=False),
    Column("failure_code", Text),
    Column("failure_message", Text),
    Column("allocation", ARRAY(BigInteger), nullable=False),
    instant("created_at", nullable=False),
    instant("settled_at"),
    UniqueConstraint("payment_id", "key", name="refunds_one_per_key"),
    Index("refunds_pending", "created_at", postgresql_where=text("status = 'pending'")),
)

# Every status a payment has been in, in order: the record that shows its moves were
# monotonic (the fault checker reads it), and its audit trail (domain/audit.py): each row
# names the action and actor behind it. A row without a move is a person's or a service's
# action that left the status as it was.
payment_statuses = Table(
    "payment_statuses",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("payment_id", Text, ForeignKey("payments.id"), nullable=False),
    Column("status", Text, nullable=False),
    instant("at", nullable=False),
    # Rows written before the trail had causes keep these empty.
    *(Column(name, Text, nullable=False, server_default="") for name in AUDIT_COLUMNS),
    Index("payment_statuses_by_payment", "payment_id", "id"),
)

ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("memo", Text, nullable=False),
    Column("payment_id", Text, nullable=False),
    instant("created_at", nullable=False),
    Index("ledger_transactions_by_payment", "payment_id"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("transaction_id", Text, ForeignKey("ledger_transactions.id"), nullable=False),
    Column("account_kind", Text, nullable=False),
    Column("owner_id", Text, nullable=False),
    Column("amount_minor", BigInteger, CheckConstraint("amount_minor <> 0"), nullable=False),
    _currency(),
    Index("ledger_entries_by_transaction", "transaction_id"),
    Index("ledger_entries_by_account", "account_kind", "owner_id", "id"),
)

# Checked at commit, not per row: a transaction's entries are inserted one by one, and
# only all of them together must balance.
for statement in (
    """
    CREATE OR REPLACE FUNCTION ledger_transaction_balances() RETURNS trigger AS $$
    DECLARE off record;
    BEGIN
      SELECT currency, sum(amount_minor) AS total INTO off FROM ledger_entries
       WHERE transaction_id = NEW.transaction_id
       GROUP BY currency HAVING sum(amount_minor) <> 0 LIMIT 1;
      IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction %% is off by %% %%',
          NEW.transaction_id, off.total, off.currency USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_transaction_balances AFTER INSERT OR UPDATE
    ON ledger_entries DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances()
    """,
):
    event.listen(ledger_entries, "after_create", DDL(statement))

wallets = Table(
    "wallets",
    metadata,
    Column("patient_id", Text, nullable=False),
    _currency(),
    Column(
        "balance_minor",
        BigInteger,
        CheckConstraint("balance_minor >= 0", name="wallets_never_negative"),
        nullable=False,
    ),
    instant("updated_at", nullable=False),
    PrimaryKeyConstraint("patient_id", "currency"),
)

wallet_transactions = Table(
    "wallet_transactions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("patient_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    _currency(),
    Column("balance_after_minor", BigInteger, CheckConstraint("balance_after_minor >= 0")),
    Column("payment_id", Text, nullable=False),
    instant("created_at", nullable=False),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Index("wallet_transactions_by_patient", "patient_id", text("seq DESC")),
)

_SPLIT = ("gross_minor", "platform_fee_minor", "gateway_fee_minor", "net_minor")

payouts = Table(
    "payouts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("doctor_id", Text, nullable=False),
    Column("payment_id", Text, ForeignKey("payments.id"), nullable=False),
    Column("line", Integer, nullable=False),
    _currency(),
    *(Column(f"earned_{name}", BigInteger, nullable=False) for name in _SPLIT),
    *(Column(name, BigInteger, CheckConstraint(f"{name} >= 0"), nullable=False) for name in _SPLIT),
    Column("status", Text, nullable=False),
    instant("earned_at", nullable=False),
    instant("release_at", nullable=False),
    instant("released_at"),
    instant("reversed_at"),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    # A line has one payout per payee it had (domain/payees.py), and one not moved on.
    Column("assignment", Integer, CheckConstraint("assignment >= 0"), nullable=False),
    instant("moved_at"),
    Index("payouts_per_assignment", "payment_id", "line", "assignment", unique=True),
    Index(
        "payouts_current",
        "payment_id",
        "line",
        unique=True,
        postgresql_where=text("status <> 'moved'"),
    ),
    CheckConstraint(
        "gross_minor = platform_fee_minor + gateway_fee_minor + net_minor",
        name="payouts_parts_add_up",
    ),
    CheckConstraint(
        "earned_gross_minor = earned_platform_fee_minor + earned_gateway_fee_minor"
        " + earned_net_minor",
        name="payouts_earned_parts_add_up",
    ),
    Index("payouts_by_doctor", "doctor_id", text("seq DESC")),
    Index("payouts_held", "release_at", postgresql_where=text("status = 'held'")),
)

# Who is paid for a line now, once it changed from the payee the payment was made with.
line_payees = Table(
    "line_payees",
    metadata,
    Column("payment_id", Text, ForeignKey("payments.id"), primary_key=True),
    Column("line", Integer, primary_key=True),
    # Empty for the platform.
    Column("doctor_id", Text, nullable=False),
    Column("assignment", Integer, CheckConstraint("assignment > 0"), nullable=False),
    instant("assigned_at", nullable=False),
)

# Disputes of confirmed payments, as cases (domain/disputes.py): at most one per
# gateway dispute; an open one holds its payment's payouts.
disputes = Table(
    "disputes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("payment_id", Text, ForeignKey("payments.id"), nullable=False),
    Column("gateway_ref", Text, nullable=False, unique=True),
    Column("amount_minor", BigInteger, CheckConstraint("amount_minor > 0"), nullable=False),
    _currency(),
    Column("reason", Text, nullable=False),
    Column("status", Text, one_of("status", DisputeStatus), nullable=False),
    # Whether the gateway took the amount (a chargeback; not yet for an inquiry).
    Column("withdrawn", Boolean, nullable=False),
    instant("opened_at", nullable=False),
    instant("closed_at"),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    CheckConstraint("(status = 'open') = (closed_at IS NULL)", name="disputes_closed_at"),
    Index("disputes_open", "payment_id", postgresql_where=text("status = 'open'")),
)

# The gateway's early fraud warnings about payments, and the refund each led to.
fraud_warnings = Table(
    "fraud_warnings",
    metadata,
    Column("id", Text, primary_key=True),
    Column("payment_id", Text, ForeignKey("payments.id"), nullable=False),
    Column("gateway_ref", Text, nullable=False, unique=True),
    Column("fraud_type", Text, nullable=False),
    Column("actionable", Boolean, nullable=False),
    # Empty when no refund was made (the setting is off, or nothing was left).
    Column("refund_id", Text, nullable=False),
    instant("received_at", nullable=False),
)

# Every webhook event id ever received: the first delivery acts, the rest are no-ops.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("payment_id", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# A gateway redelivers an event for days (Stripe: up to 3); its id is kept as long as an
# idempotency key, at least 24 h. One redelivered later acts again, harmlessly: settle
# reads the payment's truth from the gateway, the webhook is only a hint.
WEBHOOK_EVENTS = Purge(
    "webhook_events",
    "t.received_at < :cutoff",
    "idempotency_keys",
    key="event_id",
    stamped_by_database=True,
)
WEBHOOK_EVENTS_INDEX = Index("webhook_events_by_receipt", webhook_events.c.received_at)

# The payments still waiting on someone (domain WAITING_STATUSES), written out once: the
# count's query names the same text, so PostgreSQL can read this index alone, whatever
# the history, and never the whole table.
WAITING = text(f"status IN ({sql_list(sorted(s.value for s in WAITING_STATUSES))})")
PAYMENTS_WAITING_INDEX = Index(
    "payments_waiting",
    payments.c.status,
    payments.c.method,
    payments.c.currency,
    postgresql_include=["amount_minor"],
    postgresql_where=WAITING,
)
