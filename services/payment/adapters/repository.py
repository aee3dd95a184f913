"""Payment's aggregates in and out of PostgreSQL, converted at this edge.

A payment is loaded whole (its row, attempts and refunds) and saved whole: attempts and
refunds are upserted by their derived ids, so saving twice writes the same rows. Loading
`for_update` takes the payment's row lock, which serialises everything that settles it;
a wallet is loaded under the locks of its balance rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import DateTime, and_, bindparam, func, insert, or_, select, text, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from runtime import errors, sql
from runtime.money import Money
from runtime.rows import ROW_KEY, Rows, Snapshots, children_json, claim, from_json, upsert
from runtime.sql import Session
from services.payment.adapters.tables import (
    WAITING,
    disputes,
    fraud_warnings,
    ledger_entries,
    ledger_transactions,
    line_payees,
    payment_attempts,
    payment_statuses,
    payments,
    payouts,
    refunds,
    wallet_transactions,
    wallets,
    webhook_events,
)
from services.payment.domain.attempt import Attempt, AttemptStatus, Failure
from services.payment.domain.audit import PAYMENT, Action, Actor, PaymentEvent
from services.payment.domain.disputes import Dispute, DisputeStatus, FraudWarning
from services.payment.domain.fees import FeeSplit
from services.payment.domain.ledger import (
    Account,
    AccountKind,
    Entry,
    LedgerTransaction,
    Memo,
    PostedEntry,
)
from services.payment.domain.payees import LinePayee
from services.payment.domain.payment import Closure, Payment, PaymentStatus
from services.payment.domain.payouts import Payout, PayoutStatus
from services.payment.domain.purchase import PayeeKind, PayeeLine, PaymentMethod, Purchase
from services.payment.domain.refund import Refund, RefundDestination, RefundStatus
from services.payment.domain.wallet import Wallet, WalletTransaction, WalletTransactionKind
from services.payment.handlers.gateway import WebhookHint


def _money(minor: int | None, currency: str | None) -> Money | None:
    return None if minor is None or currency is None else Money(minor, currency)


def _failure(code: str | None, message: str | None) -> Failure | None:
    return None if code is None else Failure(code, message or "")


@dataclass(frozen=True)
class PaymentTally:
    # Rows of (status, method, currency, count, amount_minor), of the waiting statuses only.
    payments: Sequence
    due_for_check: int


class PaymentMove(NamedTuple):
    """A payment that entered `status` in a transaction (for the counters of moves)."""

    status: str
    method: str
    currency: str
    amount_minor: int


class Payments:
    def __init__(self, session: Session) -> None:
        self.session = session
        # The status each payment had when loaded, to record only real moves.
        self._loaded: dict[str, PaymentStatus] = {}
        # What this transaction does to payments, and for whom (domain/audit.py), and the
        # payments whose trail has it already.
        self._action = _UNNAMED
        self._recorded: set[str] = set()
        # The moves of status written in this transaction, told once it commits.
        self.moves: list[PaymentMove] = []
        self._payments = Snapshots(session, payments)
        self._attempts = Snapshots(session, payment_attempts)
        self._refunds = Snapshots(session, refunds)
        # The payments whose row lock this transaction holds (no savepoint ever lets one
        # go before the transaction ends), so a load under the lock takes it only once.
        self._held: set[str] = set()

    def holding(self, payment_id: str) -> None:
        """The transaction took the payment's row lock in a statement of another's making
        (`WebhookEvents.remember`): loading it for update need not lock it again."""
        self._held.add(payment_id)

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        # The lock first, then the read: a read in the locking statement would see the
        # attempts and refunds as they were before the lock was waited for (its snapshot
        # is taken before the wait; only the locked row itself is read again after it).
        key = {ROW_KEY: payment_id}
        if for_update and payment_id not in self._held:
            if await sql.fetch_one(self.session, _LOCK, key) is None:
                return None
            self._held.add(payment_id)
        row = await sql.fetch_one(self.session, _WHOLE, key)
        if row is None:
            return None
        attempt_rows = [_attempt_from_json(item) for item in row["attempts"]]
        refund_rows = [_refund_from_json(item) for item in row["refunds"]]
        self._payments.seen(row)
        for attempt in attempt_rows:
            self._attempts.seen(attempt)
        for refund in refund_rows:
            self._refunds.seen(refund)
        payment = _payment(row, attempt_rows, refund_rows)
        self._loaded[payment.id] = payment.status
        return payment

    async def page(
        self,
        *,
        patient_id: str | None,
        status: PaymentStatus | None,
        kind: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Payment]:
        """Newest first; `after` is the (created_at, id) of the last one seen."""
        query = select(payments.c.id, payments.c.created_at)
        if patient_id is not None:
            query = query.where(payments.c.patient_id == patient_id)
        if status is not None:
            query = query.where(payments.c.status == status.value)
        if kind is not None:
            query = query.where(payments.c.purchase_kind == kind)
        if after is not None:
            created, last_id = after
            query = query.where(
                or_(
                    payments.c.created_at < created,
                    and_(payments.c.created_at == created, payments.c.id < last_id),
                )
            )
        query = query.order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit)
        ids = [row.id for row in await self.session.execute(query)]
        found = [await self.get(payment_id) for payment_id in ids]
        return [payment for payment in found if payment is not None]

    async def add(self, payment: Payment) -> None:
        """Claims a new payment's id; two requests racing to create it meet here."""
        row = _payment_row(payment)
        if await sql.fetch_one(self.session, claim(payments), row) is None:
            raise errors.Conflict(
                f"payment {payment.id} is being created by another request; retry",
                payment_id=payment.id,
            )
        self._payments.seen(row)

    def acting(self, action: Action) -> None:
        """What this transaction does, for whom. The first named stands: a confirmation
        settles by the path a webhook takes, and is still the patient's confirmation."""
        if self._action is _UNNAMED:
            self._action = action

    async def save(
        self, payment: Payment, *, next_check_at: datetime | None = None, at: datetime
    ) -> None:
        """Writes what changed of the payment, its attempts and refunds since they were
        read; `next_check_at` is when reconciliation asks the gateway about it again
        (None: nothing in doubt). A move of status is recorded with the action behind it,
        in the one insert the history always took; a person's action that moved nothing
        is recorded once, at `at`."""
        row = _payment_row(payment)
        written = {**row, "next_check_at": next_check_at}
        action = self._action
        moved = self._loaded.get(payment.id) is not payment.status
        recorded = moved or (action.recorded_unmoved and payment.id not in self._recorded)
        # The row's update and its trail row go to PostgreSQL in one statement of parts
        # (runtime.sql.write), with the unit's other writes.
        await self._payments.write(written)
        if recorded:
            await sql.write(self.session, _RECORD_STATUS, self._trail(payment, moved, at))
        for attempt in payment.attempts:
            await self._attempts.write(_attempt_row(payment.id, attempt))
        for refund in payment.refunds:
            await self._refunds.write(_refund_row(payment, refund))
        if recorded:
            if moved:
                self.moves.append(
                    PaymentMove(row["status"], row["method"], row["currency"], row["amount_minor"])
                )
            self._loaded[payment.id] = payment.status
            self._recorded.add(payment.id)

    def _trail(self, payment: Payment, moved: bool, at: datetime) -> dict:
        """The payment's row of payment_statuses."""
        return {
            "payment_id": payment.id,
            "status": payment.status.value,
            "at": payment.updated_at if moved else at,
            **_action_row(self._action),
        }

    async def events(self, payment_id: str, after: int | None, limit: int) -> list[PaymentEvent]:
        """A payment's trail in the order written."""
        query = select(payment_statuses).where(payment_statuses.c.payment_id == payment_id)
        if after is not None:
            query = query.where(payment_statuses.c.id > after)
        rows = await self.session.execute(query.order_by(payment_statuses.c.id).limit(limit))
        return [_payment_event(row) for row in rows.mappings()]

    async def mark_fulfilled(self, payment_id: str, kind: str, at: datetime) -> bool:
        """Marks the payment for a purchase of `kind` fulfilled; False if it was already, or
        is not such a payment."""
        marked = await sql.execute(
            self.session, _MARK_FULFILLED, {"payment_id": payment_id, "kind": kind, "at": at}
        )
        return marked > 0

    async def mark_republished(self, payment_id: str, at: datetime) -> None:
        await self.session.execute(
            update(payments).where(payments.c.id == payment_id).values(republished_at=at)
        )

    async def gateway_checked_at(self, payment_id: str) -> datetime | None:
        """When ConfirmPayment last read the gateway about the payment (None: never, or no
        such payment). Takes the payment's row lock, held until the transaction ends."""
        query = select(payments.c.gateway_checked_at).where(payments.c.id == payment_id)
        row = (await self.session.execute(query.with_for_update())).first()
        if row is None:
            return None
        self._held.add(payment_id)
        return row.gateway_checked_at

    async def mark_gateway_checked(self, payment_id: str, at: datetime) -> None:
        await self.session.execute(
            update(payments).where(payments.c.id == payment_id).values(gateway_checked_at=at)
        )

    async def due_for_check(self, now: datetime, limit: int) -> list[str]:
        rows = await self.session.execute(
            select(payments.c.id)
            .where(payments.c.next_check_at <= now)
            .order_by(payments.c.next_check_at)
            .limit(limit)
        )
        return list(rows.scalars())

    async def open_past_expiry(self, now: datetime, limit: int) -> list[str]:
        rows = await self.session.execute(
            select(payments.c.id)
            .where(
                payments.c.status.in_(("requires_payment", "processing")),
                payments.c.expires_at <= now,
            )
            .order_by(payments.c.expires_at)
            .limit(limit)
        )
        return list(rows.scalars())

    async def orphans(self, confirmed_before: datetime) -> tuple[int, list[str]]:
        """Payments confirmed before the cut-off whose purchase was neither fulfilled nor
        refunded in full: their count, and those not re-published since the cut-off."""
        unfulfilled = and_(
            payments.c.confirmed_at.is_not(None),
            payments.c.fulfilled_at.is_(None),
            payments.c.confirmed_at < confirmed_before,
            payments.c.status.in_(("succeeded", "partially_refunded", "refund_pending")),
        )
        count = (
            await self.session.execute(
                select(func.count()).select_from(payments).where(unfulfilled)
            )
        ).scalar_one()
        due = await self.session.execute(
            select(payments.c.id)
            .where(
                unfulfilled,
                or_(
                    payments.c.republished_at.is_(None),
                    payments.c.republished_at < confirmed_before,
                ),
            )
            .order_by(payments.c.confirmed_at)
            .limit(100)
        )
        return count, list(due.scalars())

    async def tally(self, now: datetime) -> PaymentTally:
        """The payments still waiting on someone, counted by status, method and currency
        with the money asked for in each, and how many are due a check with the gateway:
        the gauges' query. Both read partial indexes, so their cost follows what is
        waiting, not the history."""
        counted = await self.session.execute(WAITING_TALLY)
        due = await self.session.scalar(DUE_FOR_CHECK, {"now": now})
        return PaymentTally(list(counted), due or 0)


# The gauges' queries (`tally`); tests read their plans.
WAITING_TALLY = (
    select(
        payments.c.status,
        payments.c.method,
        payments.c.currency,
        func.count().label("count"),
        func.sum(payments.c.amount_minor).label("amount_minor"),
    )
    .where(WAITING)
    .group_by(payments.c.status, payments.c.method, payments.c.currency)
)
DUE_FOR_CHECK = (
    select(func.count()).select_from(payments).where(payments.c.next_check_at <= bindparam("now"))
)
# A payment whole: its row, with its attempts and refunds as two JSON arrays.
_WHOLE = select(
    payments,
    children_json(payment_attempts, payments.c.id, payment_attempts.c.number, "attempts"),
    children_json(refunds, payments.c.id, refunds.c.created_at, "refunds"),
).where(payments.c.id == bindparam(ROW_KEY))
_LOCK = select(payments.c.id).where(payments.c.id == bindparam(ROW_KEY)).with_for_update()
_attempt_from_json = from_json(payment_attempts)
_refund_from_json = from_json(refunds)
_RECORD_STATUS = insert(payment_statuses)

# A move no handler named (none should be left): the trail still says it was payment's own.
_UNNAMED = Action("update", PAYMENT)


def _action_row(action: Action) -> dict:
    return {
        "action": action.name,
        "actor_id": action.actor.id,
        "actor_role": action.actor.role,
        "client_address": action.actor.client_address,
        "user_agent": action.actor.user_agent,
        "reason": action.reason,
    }


def _payment_event(row) -> PaymentEvent:
    actor = Actor(row["actor_id"], row["actor_role"], row["client_address"], row["user_agent"])
    return PaymentEvent(
        sequence=row["id"],
        payment_id=row["payment_id"],
        status=PaymentStatus(row["status"]),
        action=Action(row["action"], actor, row["reason"]),
        at=row["at"],
    )


# A ledger transaction and its entries in one statement, the entries in the order given:
# one round trip and one execution for what was six (the foreign key and the balance are
# still checked by PostgreSQL, at the statement's end and at the commit).
_LEDGER_POST = text(
    """
    WITH posted AS (
        INSERT INTO ledger_transactions (id, memo, payment_id, created_at)
        VALUES (:id, :memo, :payment_id, :created_at)
        RETURNING id
    )
    INSERT INTO ledger_entries (transaction_id, account_kind, owner_id, amount_minor, currency)
    SELECT posted.id, entry.account_kind, entry.owner_id, entry.amount_minor, entry.currency
    FROM posted, unnest(
        CAST(:account_kinds AS text[]), CAST(:owner_ids AS text[]),
        CAST(:amounts_minor AS bigint[]), CAST(:currencies AS text[])
    ) WITH ORDINALITY AS entry (account_kind, owner_id, amount_minor, currency, position)
    ORDER BY entry.position
    """
).bindparams(bindparam("created_at", type_=DateTime(timezone=True)))
_MARK_FULFILLED = (
    update(payments)
    .where(
        payments.c.id == bindparam("payment_id"),
        payments.c.purchase_kind == bindparam("kind"),
        payments.c.fulfilled_at.is_(None),
    )
    .values(fulfilled_at=bindparam("at"))
)


def _payment_row(payment: Payment) -> dict:
    return {
        "id": payment.id,
        "purchase_kind": payment.purchase.kind,
        "purchase_ref": payment.purchase.ref,
        "patient_id": payment.patient_id,
        "amount_minor": payment.amount.amount_minor,
        "currency": payment.currency,
        "lines": [
            {
                "payee": line.payee.value,
                "payee_id": line.payee_id,
                "amount_minor": line.amount.amount_minor,
                "description": line.description,
            }
            for line in payment.lines
        ],
        "method": payment.method.value,
        "status": payment.status.value,
        "return_url": payment.return_url,
        "description": payment.description,
        "confirmed_attempt_id": payment.confirmed_attempt_id,
        "created_at": payment.created_at,
        "expires_at": payment.expires_at,
        "confirmed_at": payment.confirmed_at,
        "closure": payment.closure.value if payment.closure else None,
        "closed_at": payment.closed_at,
        "updated_at": payment.updated_at or payment.created_at,
    }


def _attempt_row(payment_id: str, attempt: Attempt) -> dict:
    return {
        "id": attempt.id,
        "payment_id": payment_id,
        "number": attempt.number,
        "method": attempt.method.value,
        "status": attempt.status.value,
        "gateway_ref": attempt.gateway_ref,
        "checkout_url": attempt.checkout_url,
        "failure_code": attempt.failure.code if attempt.failure else None,
        "failure_message": attempt.failure.message if attempt.failure else None,
        "captured_minor": attempt.captured.amount_minor if attempt.captured else None,
        "captured_currency": attempt.captured.currency if attempt.captured else None,
        "created_at": attempt.created_at,
        "settled_at": attempt.settled_at,
    }


def _refund_row(payment: Payment, refund: Refund) -> dict:
    return {
        "id": refund.id,
        "payment_id": payment.id,
        "key": refund.key,
        "capture_id": refund.capture_id,
        "amount_minor": refund.amount.amount_minor,
        "currency": refund.amount.currency,
        "requested_minor": refund.requested.amount_minor if refund.requested else None,
        "reason": refund.reason,
        "destination": refund.destination.value,
        "via_gateway": refund.via_gateway,
        "status": refund.status.value,
        "gateway_ref": refund.gateway_ref,
        "failure_code": refund.failure.code if refund.failure else None,
        "failure_message": refund.failure.message if refund.failure else None,
        "allocation": list(refund.allocation),
        "created_at": refund.created_at,
        "settled_at": refund.settled_at,
    }


def _payment(row, attempt_rows: Iterable, refund_rows: Iterable) -> Payment:
    currency = row["currency"]
    return Payment(
        id=row["id"],
        purchase=Purchase(row["purchase_kind"], row["purchase_ref"]),
        patient_id=row["patient_id"],
        amount=Money(row["amount_minor"], currency),
        lines=tuple(
            PayeeLine(
                PayeeKind(line["payee"]),
                line["payee_id"],
                Money(line["amount_minor"], currency),
                line["description"],
            )
            for line in row["lines"]
        ),
        method=PaymentMethod(row["method"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        return_url=row["return_url"],
        description=row["description"],
        status=PaymentStatus(row["status"]),
        attempts=[
            Attempt(
                id=a["id"],
                number=a["number"],
                method=PaymentMethod(a["method"]),
                created_at=a["created_at"],
                status=AttemptStatus(a["status"]),
                gateway_ref=a["gateway_ref"],
                checkout_url=a["checkout_url"],
                failure=_failure(a["failure_code"], a["failure_message"]),
                captured=_money(a["captured_minor"], a["captured_currency"]),
                settled_at=a["settled_at"],
            )
            for a in attempt_rows
        ],
        refunds=[
            Refund(
                id=r["id"],
                key=r["key"],
                capture_id=r["capture_id"],
                amount=Money(r["amount_minor"], r["currency"]),
                requested=_money(r["requested_minor"], r["currency"]),
                reason=r["reason"],
                destination=RefundDestination(r["destination"]),
                via_gateway=r["via_gateway"],
                created_at=r["created_at"],
                status=RefundStatus(r["status"]),
                gateway_ref=r["gateway_ref"],
                failure=_failure(r["failure_code"], r["failure_message"]),
                allocation=tuple(r["allocation"]),
                settled_at=r["settled_at"],
            )
            for r in refund_rows
        ],
        confirmed_attempt_id=row["confirmed_attempt_id"],
        confirmed_at=row["confirmed_at"],
        closure=Closure(row["closure"]) if row["closure"] else None,
        closed_at=row["closed_at"],
        updated_at=row["updated_at"],
    )


class Ledger:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def post(self, transaction: LedgerTransaction) -> None:
        """Writes a balanced transaction; the same fact posted twice is refused by its id."""
        entries = transaction.entries
        await sql.write(
            self.session,
            _LEDGER_POST,
            {
                "id": transaction.id,
                "memo": transaction.memo.value,
                "payment_id": transaction.payment_id,
                "created_at": transaction.created_at,
                "account_kinds": [entry.account.kind.value for entry in entries],
                "owner_ids": [entry.account.owner_id for entry in entries],
                "amounts_minor": [entry.amount.amount_minor for entry in entries],
                "currencies": [entry.amount.currency for entry in entries],
            },
        )

    async def page(
        self,
        *,
        payment_id: str | None,
        transaction_id: str | None,
        account: Account | None,
        after: int | None,
        limit: int,
    ) -> list[PostedEntry]:
        """Entries in the order written; `after` is the last entry id seen."""
        query = select(
            ledger_entries,
            ledger_transactions.c.memo,
            ledger_transactions.c.payment_id,
            ledger_transactions.c.created_at,
        ).join(ledger_transactions)
        if payment_id is not None:
            query = query.where(ledger_transactions.c.payment_id == payment_id)
        if transaction_id is not None:
            query = query.where(ledger_entries.c.transaction_id == transaction_id)
        if account is not None:
            query = query.where(
                ledger_entries.c.account_kind == account.kind.value,
                ledger_entries.c.owner_id == account.owner_id,
            )
        if after is not None:
            query = query.where(ledger_entries.c.id > after)
        rows = await self.session.execute(query.order_by(ledger_entries.c.id).limit(limit))
        return [
            PostedEntry(
                row["id"],
                row["transaction_id"],
                Memo(row["memo"]),
                row["payment_id"],
                Entry(
                    Account(AccountKind(row["account_kind"]), row["owner_id"]),
                    Money(row["amount_minor"], row["currency"]),
                ),
                row["created_at"],
            )
            for row in rows.mappings()
        ]


class Wallets:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def lock(self, patient_id: str, currencies: Sequence[str], at: datetime) -> Wallet:
        """The patient's wallet under the row locks of its balances (created at zero when
        new), taken in currency order so two payments never deadlock on them."""
        if currencies:
            await self.session.execute(
                pg_insert(wallets)
                .values(
                    [
                        {
                            "patient_id": patient_id,
                            "currency": c,
                            "balance_minor": 0,
                            "updated_at": at,
                        }
                        for c in sorted(set(currencies))
                    ]
                )
                .on_conflict_do_nothing()
            )
        rows = await self.session.execute(
            select(wallets)
            .where(wallets.c.patient_id == patient_id)
            .order_by(wallets.c.currency)
            .with_for_update()
        )
        return _wallet(patient_id, rows.mappings())

    async def get(self, patient_id: str) -> Wallet:
        rows = await self.session.execute(
            select(wallets).where(wallets.c.patient_id == patient_id).order_by(wallets.c.currency)
        )
        return _wallet(patient_id, rows.mappings())

    async def save(self, wallet: Wallet) -> None:
        """Stores the balances and the movements posted since the wallet was loaded."""
        for move in wallet.transactions:
            await self.session.execute(
                update(wallets)
                .where(
                    wallets.c.patient_id == wallet.patient_id,
                    wallets.c.currency == move.amount.currency,
                )
                .values(balance_minor=move.balance_after.amount_minor, updated_at=move.created_at)
            )
            await self.session.execute(
                insert(wallet_transactions).values(
                    id=move.id,
                    patient_id=move.patient_id,
                    kind=move.kind.value,
                    amount_minor=move.amount.amount_minor,
                    currency=move.amount.currency,
                    balance_after_minor=move.balance_after.amount_minor,
                    payment_id=move.payment_id,
                    created_at=move.created_at,
                )
            )
        wallet.transactions.clear()

    async def history(
        self, patient_id: str, currency: str | None, after: int | None, limit: int
    ) -> list[tuple[int, WalletTransaction]]:
        """Newest first; `after` is the sequence number of the last one seen."""
        query = select(wallet_transactions).where(wallet_transactions.c.patient_id == patient_id)
        if currency is not None:
            query = query.where(wallet_transactions.c.currency == currency)
        if after is not None:
            query = query.where(wallet_transactions.c.seq < after)
        rows = await self.session.execute(
            query.order_by(wallet_transactions.c.seq.desc()).limit(limit)
        )
        return [
            (
                row["seq"],
                WalletTransaction(
                    row["id"],
                    row["patient_id"],
                    WalletTransactionKind(row["kind"]),
                    Money(row["amount_minor"], row["currency"]),
                    Money(row["balance_after_minor"], row["currency"]),
                    row["payment_id"],
                    row["created_at"],
                ),
            )
            for row in rows.mappings()
        ]


def _wallet(patient_id: str, rows: Iterable) -> Wallet:
    wallet = Wallet(patient_id)
    for row in rows:
        if row["balance_minor"]:
            wallet.balances[row["currency"]] = row["balance_minor"]
        wallet.updated_at = max(filter(None, (wallet.updated_at, row["updated_at"])))
    return wallet


class Payouts:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def of_payment(self, payment_id: str, *, for_update: bool = False) -> list[Payout]:
        query = (
            select(payouts)
            .where(payouts.c.payment_id == payment_id)
            .order_by(payouts.c.line, payouts.c.assignment)
        )
        if for_update:
            query = query.with_for_update()
        return [_payout(row) for row in (await self.session.execute(query)).mappings()]

    async def get(self, payout_id: str, *, for_update: bool = False) -> Payout | None:
        query = select(payouts).where(payouts.c.id == payout_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return _payout(row) if row else None

    async def save(self, payout: Payout) -> None:
        row = _payout_row(payout)
        await sql.write(self.session, upsert(payouts, row), row)

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Held payouts past their release date, but for those an open dispute holds."""
        rows = await self.session.execute(
            select(payouts.c.id)
            .where(
                payouts.c.status == PayoutStatus.HELD.value,
                payouts.c.release_at <= now,
                ~_disputed(payouts.c.payment_id),
            )
            .order_by(payouts.c.release_at)
            .limit(limit)
        )
        return list(rows.scalars())

    async def page(
        self, doctor_id: str, status: PayoutStatus | None, after: int | None, limit: int
    ) -> list[tuple[int, Payout]]:
        """Newest first; `after` is the sequence number of the last one seen."""
        query = select(payouts).where(payouts.c.doctor_id == doctor_id)
        if status is not None:
            query = query.where(payouts.c.status == status.value)
        if after is not None:
            query = query.where(payouts.c.seq < after)
        rows = await self.session.execute(query.order_by(payouts.c.seq.desc()).limit(limit))
        return [(row["seq"], _payout(row)) for row in rows.mappings()]


def _split_row(split: FeeSplit, prefix: str = "") -> dict:
    return {
        f"{prefix}gross_minor": split.gross.amount_minor,
        f"{prefix}platform_fee_minor": split.platform_fee.amount_minor,
        f"{prefix}gateway_fee_minor": split.gateway_fee.amount_minor,
        f"{prefix}net_minor": split.net.amount_minor,
    }


def _split(row, currency: str, prefix: str = "") -> FeeSplit:
    return FeeSplit(
        *(
            Money(row[f"{prefix}{part}_minor"], currency)
            for part in ("gross", "platform_fee", "gateway_fee", "net")
        )
    )


def _payout_row(payout: Payout) -> dict:
    return {
        "id": payout.id,
        "doctor_id": payout.doctor_id,
        "payment_id": payout.payment_id,
        "line": payout.line,
        "currency": payout.earned.gross.currency,
        **_split_row(payout.earned, "earned_"),
        **_split_row(payout.split),
        "status": payout.status.value,
        "earned_at": payout.earned_at,
        "release_at": payout.release_at,
        "released_at": payout.released_at,
        "reversed_at": payout.reversed_at,
        "assignment": payout.assignment,
        "moved_at": payout.moved_at,
    }


def _payout(row) -> Payout:
    currency = row["currency"]
    return Payout(
        id=row["id"],
        doctor_id=row["doctor_id"],
        payment_id=row["payment_id"],
        line=row["line"],
        earned=_split(row, currency, "earned_"),
        split=_split(row, currency),
        earned_at=row["earned_at"],
        release_at=row["release_at"],
        status=PayoutStatus(row["status"]),
        released_at=row["released_at"],
        reversed_at=row["reversed_at"],
        assignment=row["assignment"],
        moved_at=row["moved_at"],
    )


class LinePayees:
    """Who holds each line of a payment now, where that changed since it was made."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def of_line(self, payment: Payment, line: int) -> LinePayee:
        """Read under the payment's row lock, which every change of payee takes first."""
        query = select(line_payees).where(
            line_payees.c.payment_id == payment.id, line_payees.c.line == line
        )
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return LinePayee.as_made(payment, line)
        return LinePayee(
            payment.id, line, row["doctor_id"] or None, row["assignment"], row["assigned_at"]
        )

    async def save(self, payee: LinePayee) -> None:
        row = {
            "payment_id": payee.payment_id,
            "line": payee.line,
            "doctor_id": payee.doctor_id or "",
            "assignment": payee.assignment,
            "assigned_at": payee.assigned_at,
        }
        await sql.write(self.session, upsert(line_payees, row), row)


class WebhookEvents:
    def __init__(self, session: Session, payments: Payments) -> None:
        self.session = session
        # The unit's payments, told of a lock taken here.
        self.payments = payments

    async def remember(self, hint: WebhookHint, *, lock_payment: bool = False) -> bool:
        """Stores the event id under its unique key; False when it was seen before.
        `lock_payment`: a first delivery also takes the row lock of the payment it names,
        in the same statement, for the settle that follows (which loads the payment in a
        statement of its own, after the lock, so it sees all that was committed before)."""
        row = {"event_id": hint.event_id, "event_type": hint.event_type}
        row["payment_id"] = hint.payment_id
        # The webhook's unit begins here, the statement with its BEGIN (runtime.sql.execute).
        statement = _REMEMBER_LOCKING if lock_payment else claim(webhook_events)
        claimed = await sql.execute(self.session, statement, row) == 1
        if claimed and lock_payment:
            # Its lock is taken if the payment exists; one that does not is not found by
            # the load that follows, with or without it.
            self.payments.holding(hint.payment_id)
        return claimed


# A webhook's first delivery remembered, then the lock of the payment it names taken, in
# one round trip: the lock reads what the insert returned, so it is always taken second,
# as the two statements took them, and never for a delivery seen before.
_CLAIMED = (
    pg_insert(webhook_events)
    .values(
        event_id=bindparam("event_id"),
        event_type=bindparam("event_type"),
        payment_id=bindparam("payment_id"),
    )
    .on_conflict_do_nothing()
    .returning(webhook_events.c.payment_id)
    .cte("claimed")
)
_LOCKED = (
    select(payments.c.id)
    .where(payments.c.id == select(_CLAIMED.c.payment_id).scalar_subquery())
    .with_for_update()
    .cte("locked")
)
_REMEMBER_LOCKING = select(_LOCKED.c.id.label("locked")).select_from(
    _CLAIMED.outerjoin(_LOCKED, true())
)


def _disputed(payment_id) -> Any:
    """Whether the payment has an open dispute, as an SQL condition."""
    return (
        select(disputes.c.id)
        .where(disputes.c.payment_id == payment_id, disputes.c.status == DisputeStatus.OPEN.value)
        .exists()
    )


def _dispute_row(dispute: Dispute) -> dict:
    return {
        "id": dispute.id,
        "payment_id": dispute.payment_id,
        "gateway_ref": dispute.gateway_ref,
        "amount_minor": dispute.amount.amount_minor,
        "currency": dispute.amount.currency,
        "reason": dispute.reason,
        "status": dispute.status.value,
        "withdrawn": dispute.withdrawn,
        "opened_at": dispute.opened_at,
        "closed_at": dispute.closed_at,
    }


def _dispute(row) -> Dispute:
    return Dispute(
        id=row["id"],
        payment_id=row["payment_id"],
        gateway_ref=row["gateway_ref"],
        amount=Money(row["amount_minor"], row["currency"]),
        reason=row["reason"],
        status=DisputeStatus(row["status"]),
        withdrawn=row["withdrawn"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
    )


class Disputes(Rows[Dispute]):
    """Read and saved under the payment's row lock, which every change to its disputes
    takes."""

    table = disputes
    _load = staticmethod(_dispute)
    _dump = staticmethod(_dispute_row)

    async def hold(self, payment_id: str) -> bool:
        """Whether an open dispute holds the payment's payouts."""
        query = select(_disputed(payment_id))
        return bool((await self.session.execute(query)).scalar())

    async def page(
        self, status: DisputeStatus | None, payment_id: str | None, after: int | None, limit: int
    ) -> list[tuple[int, Dispute]]:
        """Newest first; `after` is the sequence number of the last one seen."""
        query = select(disputes)
        if status is not None:
            query = query.where(disputes.c.status == status.value)
        if payment_id is not None:
            query = query.where(disputes.c.payment_id == payment_id)
        if after is not None:
            query = query.where(disputes.c.seq < after)
        rows = await self.session.execute(query.order_by(disputes.c.seq.desc()).limit(limit))
        return [(row["seq"], _dispute(row)) for row in rows.mappings()]


class FraudWarnings:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def remember(self, warning: FraudWarning) -> bool:
        """Stores the warning once; False when it was stored before."""
        # Its fields are the table's columns.
        return await sql.fetch_one(self.session, claim(fraud_warnings), asdict(warning)) is not None
