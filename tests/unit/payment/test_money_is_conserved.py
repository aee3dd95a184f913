"""Money is conserved whatever patients, the gateway and the release job do, in any order:
every transaction balances, a wallet never goes negative, refunds never exceed captures,
and doctors' accounts always agree with their payouts."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from runtime.errors import DomainError
from runtime.money import Money
from services.payment.domain.errors import InsufficientWalletBalance
from services.payment.domain.events import CaptureRejected
from services.payment.domain.fees import STRIPE_LIKE_FEES
from services.payment.domain.ids import derived_id
from services.payment.domain.ledger import Account, LedgerTransaction, balance
from services.payment.domain.payment import Payment
from services.payment.domain.payouts import FeeBearer, Payout, PayoutRules, PayoutStatus
from services.payment.domain.postings import (
    post_confirmation,
    post_refund,
    post_rejected_capture,
    post_release,
)
from services.payment.domain.purchase import PaymentMethod
from services.payment.domain.refund import RefundDestination, RefundStatus
from services.payment.domain.refunding import request_refund
from services.payment.domain.settlement import (
    GatewayPaid,
    GatewayRefunded,
    GatewayRefundFailed,
    settle,
    settle_refund,
)
from services.payment.domain.wallet import Wallet, WalletTransactionKind, pay_from_wallet, top_up
from tests.unit.payment.builders import (
    PATIENT,
    T0,
    a_payment,
    doctor_line,
    open_attempt,
    platform_line,
)

DOCTORS = ("doctor-1", "doctor-2")
KINDS = {
    "payment_confirmed": WalletTransactionKind.PAYMENT,
    "refund": WalletTransactionKind.REFUND,
}


class Clinic(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rules = PayoutRules()
        self.now = T0
        self.wallet = Wallet(PATIENT)
        self.payments: list[Payment] = []
        self.payouts: list[Payout] = []
        self.ledger: list[LedgerTransaction] = []

    def post(self, transaction: LedgerTransaction | None, kind=None) -> None:
        if transaction is None:
            return
        self.ledger.append(transaction)
        self.wallet.post(
            transaction, kind or KINDS.get(transaction.memo.value, WalletTransactionKind.REFUND)
        )

    def post_new_facts(self, payment: Payment, seen: int) -> None:
        """What the handler does after a change: post each new money fact once."""
        for event in payment.events[seen:]:
            if isinstance(event, CaptureRejected):
                self.post(
                    post_rejected_capture(payment, event.attempt_id, STRIPE_LIKE_FEES, self.now)
                )
        for refund in payment.refunds:
            already = any(t.id == post_refund_id(refund.id) for t in self.ledger)
            if refund.status is RefundStatus.SUCCEEDED and not already:
                self.post(post_refund(payment, refund.id, self.payouts, self.rules))

    @rule(bearer=st.sampled_from(FeeBearer))
    def the_platform_changes_who_bears_the_gateway_fee(self, bearer: FeeBearer) -> None:
        self.rules = PayoutRules(gateway_fee_on_refund=bearer)

    @rule(cents=st.integers(1, 50_000))
    def a_patient_tops_up(self, cents: int) -> None:
        payment = top_up(
            payment_id=f"topup-{len(self.payments)}",
            patient_id=PATIENT,
            amount=Money(cents, "USD"),
            created_at=self.now,
            expires_at=self.now + timedelta(minutes=10),
        )
        open_attempt(payment, "cs_topup", self.now)
        settle(payment, GatewayPaid("cs_topup", payment.amount), self.now)
        self.post(
            post_confirmation(payment, self.rules, STRIPE_LIKE_FEES).transaction,
            WalletTransactionKind.TOP_UP,
        )
        self.payments.append(payment)

    @rule(
        shares=st.lists(st.integers(1, 30_000), min_size=1, max_size=3),
        platform=st.integers(0, 2_000),
        method=st.sampled_from(PaymentMethod),
        captured_off_by=st.sampled_from([0, 0, 0, 1, -1]),
    )
    def a_patient_pays(self, shares, platform, method, captured_off_by) -> None:
        lines = [doctor_line(Money(c, "USD"), DOCTORS[i % 2]) for i, c in enumerate(shares)]
        if platform:
            lines.append(platform_line(Money(platform, "USD")))
        amount = Money(sum(shares) + platform, "USD")
        payment_id = f"payment-{len(self.payments)}"
        payment = a_payment(amount, lines, method, payment_id=payment_id, at=self.now)
        self.payments.append(payment)
        if method is PaymentMethod.WALLET:
            try:
                confirmation = pay_from_wallet(payment, self.wallet, self.rules, self.now)
            except InsufficientWalletBalance:
                return
            self.ledger.append(confirmation.transaction)
            self.payouts += confirmation.payouts
            return
        open_attempt(payment, "cs_1", self.now)
        seen = len(payment.events)
        captured = Money(max(1, amount.amount_minor + captured_off_by), "USD")
        settle(payment, GatewayPaid("cs_1", captured), self.now)
        if payment.is_confirmed:
            confirmation = post_confirmation(payment, self.rules, STRIPE_LIKE_FEES)
            self.post(confirmation.transaction)
            self.payouts += confirmation.payouts
        self.post_new_facts(payment, seen)

    @precondition(lambda self: self.payments)
    @rule(
        data=st.data(),
        cents=st.none() | st.integers(-10, 40_000),
        destination=st.sampled_from(RefundDestination),
        key=st.sampled_from(["refund:a", "refund:b", "cancel:c", "admin:d"]),
    )
    def someone_asks_for_a_refund(self, data, cents, destination, key) -> None:
        payment = data.draw(st.sampled_from(self.payments))
        seen = len(payment.events)
        try:
            request_refund(
                payment,
                key=key,
                amount=None if cents is None else Money(cents, "USD"),
                reason="slot_taken",
                destination=destination,
                at=self.now,
            )
        except DomainError:
            return
        self.post_new_facts(payment, seen)

    @precondition(
        lambda self: any(r.status is RefundStatus.PENDING for p in self.payments for r in p.refunds)
    )
    @rule(data=st.data(), succeeded=st.booleans())
    def the_gateway_answers_a_refund(self, data, succeeded) -> None:
        pending = [
            (p, r) for p in self.payments for r in p.refunds if r.status is RefundStatus.PENDING
        ]
        payment, refund = data.draw(st.sampled_from(pending))
        seen = len(payment.events)
        truth = (
            GatewayRefunded(refund.id) if succeeded else GatewayRefundFailed(refund.id, "failed")
        )
        settle_refund(payment, truth, self.now)
        self.post_new_facts(payment, seen)

    @rule(days=st.integers(1, 20))
    def time_passes_and_the_release_job_runs(self, days: int) -> None:
        self.now += timedelta(days=days)
        for payout in self.payouts:
            if payout.status is PayoutStatus.HELD and payout.release_at <= self.now:
                payout.release(self.now)
                self.post(post_release(payout))

    @invariant()
    def every_currency_of_the_ledger_sums_to_zero(self) -> None:
        sums: dict[str, int] = defaultdict(int)
        for transaction in self.ledger:
            for entry in transaction.entries:
                sums[entry.amount.currency] += entry.amount.amount_minor
        assert all(amount == 0 for amount in sums.values())

    @invariant()
    def the_wallet_is_never_negative_and_agrees_with_the_ledger(self) -> None:
        entries = [entry for t in self.ledger for entry in t.entries]
        assert all(amount >= 0 for amount in self.wallet.balances.values())
        assert {c: a for c, a in self.wallet.balances.items() if a} == {
            c: a for c, a in Wallet.from_entries(PATIENT, entries).balances.items() if a
        }

    @invariant()
    def refunds_never_exceed_what_was_captured(self) -> None:
        for payment in self.payments:
            for attempt in payment.attempts:
                if attempt.captured is None:
                    continue
                committed = sum(
                    r.amount.amount_minor
                    for r in payment.refunds
                    if r.capture_id == attempt.id and r.status is not RefundStatus.FAILED
                )
                assert committed <= attempt.captured.amount_minor
            if payment.captured is not None:
                assert payment.refunded <= payment.captured

    @invariant()
    def doctors_accounts_agree_with_their_payouts(self) -> None:
        entries = [entry for t in self.ledger for entry in t.entries]
        for doctor in DOCTORS:
            mine = [p for p in self.payouts if p.doctor_id == doctor]
            held = sum(p.split.net.amount_minor for p in mine if p.status is PayoutStatus.HELD)
            released = sum(
                p.split.net.amount_minor for p in mine if p.status is PayoutStatus.RELEASED
            )
            assert balance(Account.doctor_payable(doctor), "USD", entries).amount_minor == -held
            assert (
                balance(Account.doctor_available(doctor), "USD", entries).amount_minor == -released
            )
            for payout in mine:
                split = payout.split
                assert split.platform_fee + split.gateway_fee + split.net == split.gross


def post_refund_id(refund_id: str) -> str:
    return derived_id(refund_id, "ledger")


Clinic.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_money_is_conserved_in_any_sequence_of_payments_refunds_and_releases = Clinic.TestCase
