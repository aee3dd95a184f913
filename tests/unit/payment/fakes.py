"""Payment's repositories and gateway in memory, for its handlers' unit tests.

The repositories keep what the handlers' use cases read and write, with the same answers
as the tables: a second `add` of a payment conflicts, a ledger transaction is posted once,
a wallet never used is empty. What a table keeps beside the aggregate (when to check a
payment again, when it was fulfilled) is rolled back with the unit too. The views' pages
are not kept: they are queries, tested against PostgreSQL.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, TypeVar

from runtime import errors
from runtime.currency import CURRENCIES
from runtime.money import Money
from services.payment.domain.acceptance import GatewayAcceptance
from services.payment.domain.audit import PAYMENT, Action
from services.payment.domain.disputes import (
    Dispute,
    DisputeStatus,
    DisputeTruth,
    FraudWarning,
    FraudWarningTruth,
)
from services.payment.domain.fees import STRIPE_LIKE_FEES
from services.payment.domain.ledger import LedgerTransaction
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.payouts import Payout, PayoutStatus
from services.payment.domain.settlement import (
    GatewayDeclined,
    GatewayExpired,
    GatewayOpen,
    GatewayPaid,
    GatewayRefunded,
    GatewayRefundTruth,
    GatewayTruth,
)
from services.payment.domain.wallet import Wallet, WalletTransaction
from services.payment.handlers.gateway import (
    Checkout,
    CheckoutRequest,
    GatewayRefused,
    GatewayUnavailable,
    RefundRequest,
    WebhookHint,
)
from tests.unit.fakes import FakeUnitOfWork, InMemoryRows

T = TypeVar("T")


class _RowsAndColumns(InMemoryRows[T]):
    """Rows, and the columns beside them that the aggregate does not carry (`columns`,
    attribute names), all restored when the unit rolls back."""

    columns: ClassVar[tuple[str, ...]] = ()

    def begin(self) -> None:
        super().begin()
        self._columns_before = {name: copy.deepcopy(getattr(self, name)) for name in self.columns}

    def rollback(self) -> None:
        super().rollback()
        for name, value in self._columns_before.items():
            setattr(self, name, value)


class InMemoryPayments(_RowsAndColumns[Payment]):
    columns = ("next_check_at", "fulfilled_at", "republished_at", "gateway_checked", "trail")

    def __init__(self, *payments: Payment) -> None:
        super().__init__(*payments)
        self.next_check_at: dict[str, datetime | None] = {}
        self.fulfilled_at: dict[str, datetime] = {}
        self.republished_at: dict[str, datetime] = {}
        self.gateway_checked: dict[str, datetime] = {}
        # (payment id, status, action) as the repository records them: a move always, a
        # person's action that moved nothing once per transaction.
        self.trail: list[tuple[str, str, Action]] = []
        self._action: Action | None = None
        self._statuses: dict[str, str] = {}

    def begin(self) -> None:
        super().begin()
        self._action = None
        self._recorded: set[str] = set()

    def acting(self, action: Action) -> None:
        if self._action is None:
            self._action = action

    async def add(self, payment: Payment) -> None:
        if payment.id in self._rows:
            raise errors.Conflict(f"payment {payment.id} is being created by another request")
        await super().save(payment)

    async def save(
        self, payment: Payment, *, next_check_at: datetime | None = None, at: datetime
    ) -> None:
        await super().save(payment)
        self.next_check_at[payment.id] = next_check_at
        action = self._action or Action("update", PAYMENT)
        moved = self._statuses.get(payment.id) != payment.status.value
        if moved or (action.recorded_unmoved and payment.id not in self._recorded):
            self.trail.append((payment.id, payment.status.value, action))
            self._statuses[payment.id] = payment.status.value
            self._recorded.add(payment.id)

    async def page(self, *, patient_id, status, kind, limit, **_) -> list[Payment]:
        """The repository's filters (None: any), newest first; the cursor is left to the
        component tests."""
        return sorted(
            (
                p
                for p in self.all()
                if patient_id in (None, p.patient_id)
                and status in (None, p.status)
                and kind in (None, p.purchase.kind)
            ),
            key=lambda p: (p.created_at, p.id),
            reverse=True,
        )[:limit]

    async def mark_fulfilled(self, payment_id: str, kind: str, at: datetime) -> bool:
        payment = self._rows.get(payment_id)
        if payment is None or payment.purchase.kind != kind or payment_id in self.fulfilled_at:
            return False
        self.fulfilled_at[payment_id] = at
        return True

    async def mark_republished(self, payment_id: str, at: datetime) -> None:
        self.republished_at[payment_id] = at

    async def gateway_checked_at(self, payment_id: str) -> datetime | None:
        return self.gateway_checked.get(payment_id)

    async def mark_gateway_checked(self, payment_id: str, at: datetime) -> None:
        if payment_id in self._rows:
            self.gateway_checked[payment_id] = at

    async def due_for_check(self, now: datetime, limit: int) -> list[str]:
        due = [(at, pid) for pid, at in self.next_check_at.items() if at is not None and at <= now]
        return [pid for _, pid in sorted(due)][:limit]

    async def open_past_expiry(self, now: datetime, limit: int) -> list[str]:
        open_ = (PaymentStatus.REQUIRES_PAYMENT, PaymentStatus.PROCESSING)
        due = [p for p in self._rows.values() if p.status in open_ and p.expires_at <= now]
        return [p.id for p in sorted(due, key=lambda p: p.expires_at)][:limit]

    async def orphans(self, confirmed_before: datetime) -> tuple[int, list[str]]:
        owed = (
            PaymentStatus.SUCCEEDED,
            PaymentStatus.PARTIALLY_REFUNDED,
            PaymentStatus.REFUND_PENDING,
        )
        unfulfilled = [
            p
            for p in self._rows.values()
            if p.confirmed_at is not None
            and p.confirmed_at < confirmed_before
            and p.id not in self.fulfilled_at
            and p.status in owed
        ]
        due = [
            p.id
            for p in unfulfilled
            if self.republished_at.get(p.id) is None or self.republished_at[p.id] < confirmed_before
        ]
        return len(unfulfilled), due


class InMemoryLedger(InMemoryRows[LedgerTransaction]):
    async def post(self, transaction: LedgerTransaction) -> None:
        if transaction.id in self._rows:
            raise AssertionError(f"ledger transaction {transaction.id} posted twice")
        await self.save(transaction)


class InMemoryWallets(_RowsAndColumns[Wallet]):
    key = "patient_id"
    columns = ("history",)

    def __init__(self, *wallets: Wallet) -> None:
        super().__init__(*wallets)
        # Every movement stored, oldest first.
        self.history: list[WalletTransaction] = []

    async def get(self, patient_id: str, /, *, for_update: bool = False) -> Wallet:
        return await super().get(patient_id) or Wallet(patient_id)

    async def lock(self, patient_id: str, currencies: Sequence[str], at: datetime) -> Wallet:
        return await self.get(patient_id, for_update=True)

    async def save(self, wallet: Wallet) -> None:
        self.history += wallet.transactions
        wallet.transactions.clear()
        await super().save(wallet)


class InMemoryPayouts(InMemoryRows[Payout]):
    async def of_payment(self, payment_id: str, *, for_update: bool = False) -> list[Payout]:
        return sorted((p for p in self.all() if p.payment_id == payment_id), key=lambda p: p.line)

    async def due(self, now: datetime, limit: int) -> list[str]:
        held = [p for p in self.all() if p.status is PayoutStatus.HELD and p.release_at <= now]
        return [p.id for p in sorted(held, key=lambda p: p.release_at)][:limit]


class InMemoryWebhookEvents(InMemoryRows[WebhookHint]):
    key = "event_id"

    async def remember(self, hint: WebhookHint, *, lock_payment: bool = False) -> bool:
        if hint.event_id in self._rows:
            return False
        await self.save(hint)
        return True


class InMemoryDisputes(InMemoryRows[Dispute]):
    async def hold(self, payment_id: str) -> bool:
        return any(d.payment_id == payment_id and d.is_open for d in self.all())


class InMemoryFraudWarnings(InMemoryRows[FraudWarning]):
    async def remember(self, warning: FraudWarning) -> bool:
        if warning.id in self._rows:
            return False
        await self.save(warning)
        return True


def fake_unit(*payments: Payment, wallets: tuple[Wallet, ...] = ()) -> FakeUnitOfWork:
    return FakeUnitOfWork(
        payments=InMemoryPayments(*payments),
        ledger=InMemoryLedger(),
        wallets=InMemoryWallets(*wallets),
        payouts=InMemoryPayouts(),
        webhooks=InMemoryWebhookEvents(),
        disputes=InMemoryDisputes(),
        fraud_warnings=InMemoryFraudWarnings(),
    )


class FakeGateway:
    """A gateway that answers as the real one does to nobat's idempotency keys: the same
    attempt gets the same session, the same refund id the same refund. A test decides
    what the patient did (`pay`, `decline`), takes the gateway down (`down`) or has it
    refuse refunds (`refusing`); `calls` is what payment asked, in order."""

    fees = STRIPE_LIKE_FEES
    # Every currency nobat knows, any amount: a test of the refusal narrows it.
    accepts = GatewayAcceptance("fake", {code: 1 for code in CURRENCIES}, 10**15)

    def __init__(self) -> None:
        self.sessions: dict[str, GatewayTruth] = {}
        self.refunds: dict[str, GatewayRefundTruth] = {}
        # What the patient's bank and the gateway's fraud checks said, by their refs.
        self.disputes: dict[str, DisputeTruth] = {}
        self.fraud_warnings: dict[str, FraudWarningTruth] = {}
        self.down = False
        self.refusing: GatewayRefused | None = None
        self.calls: list[tuple[str, str]] = []

    def _asked(self, call: str, about: str) -> None:
        self.calls.append((call, about))
        if self.down:
            raise GatewayUnavailable(f"{call}: connection refused")

    def asked(self, call: str) -> list[str]:
        return [about for name, about in self.calls if name == call]

    def pay(self, gateway_ref: str, amount: Money) -> None:
        self.sessions[gateway_ref] = GatewayPaid(gateway_ref, amount)

    def decline(self, gateway_ref: str) -> None:
        self.sessions[gateway_ref] = GatewayDeclined(gateway_ref, "card_declined")

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        self._asked("create_checkout", request.attempt_id)
        ref = f"cs_{request.attempt_id}"
        self.sessions.setdefault(ref, GatewayOpen(ref))
        return Checkout(ref, f"https://gateway.example/pay/{ref}")

    async def read_checkout(self, checkout_ref: str) -> GatewayTruth:
        self._asked("read_checkout", checkout_ref)
        return self.sessions[checkout_ref]

    async def expire_checkout(self, checkout_ref: str) -> GatewayTruth:
        self._asked("expire_checkout", checkout_ref)
        if isinstance(self.sessions[checkout_ref], GatewayOpen):
            self.sessions[checkout_ref] = GatewayExpired(checkout_ref)
        return self.sessions[checkout_ref]

    async def create_refund(self, request: RefundRequest) -> GatewayRefundTruth:
        self._asked("create_refund", request.refund_id)
        if self.refusing is not None:
            raise self.refusing
        return self.refunds.setdefault(
            request.refund_id, GatewayRefunded(request.refund_id, f"re_{request.refund_id}")
        )

    async def read_refund(self, refund_id: str, gateway_ref: str) -> GatewayRefundTruth:
        self._asked("read_refund", gateway_ref)
        return self.refunds[refund_id]

    async def read_dispute(self, gateway_ref: str) -> DisputeTruth:
        self._asked("read_dispute", gateway_ref)
        return self.disputes[gateway_ref]

    async def read_fraud_warning(self, gateway_ref: str) -> FraudWarningTruth:
        self._asked("read_fraud_warning", gateway_ref)
        return self.fraud_warnings[gateway_ref]

    def dispute(
        self, gateway_ref: str, payment: Payment, status: DisputeStatus, withdrawn: bool = True
    ) -> None:
        """The patient's bank disputes the whole payment; then decides (`status`)."""
        self.disputes[gateway_ref] = DisputeTruth(
            gateway_ref, payment.id, payment.amount, "fraudulent", status, withdrawn
        )
