from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.errors import FailedPrecondition
from runtime.money import Money
from services.payment.domain.attempt import AttemptStatus
from services.payment.domain.errors import InsufficientWalletBalance
from services.payment.domain.events import PaymentConfirmed, PaymentFailed, PaymentRefunded
from services.payment.domain.fees import STRIPE_LIKE_FEES
from services.payment.domain.ledger import Account, Entry, LedgerTransaction, Memo
from services.payment.domain.payment import PaymentStatus
from services.payment.domain.payouts import PayoutRules
from services.payment.domain.postings import post_confirmation, post_refund
from services.payment.domain.purchase import PaymentMethod
from services.payment.domain.refund import RefundDestination, RefundStatus
from services.payment.domain.refunding import request_refund
from services.payment.domain.settlement import settle
from services.payment.domain.wallet import (
    Wallet,
    WalletTransactionKind,
    pay_from_wallet,
    top_up,
)
from tests.unit.payment.builders import PATIENT, T0, a_payment, open_attempt, paid, usd

RULES = PayoutRules()
TOP_UP = WalletTransactionKind.TOP_UP
REFUND = WalletTransactionKind.REFUND


def topped_up(cents: int) -> Wallet:
    """A wallet credited the only way there is: a confirmed top-up payment."""
    payment = top_up(
        payment_id=f"topup-{cents}",
        patient_id=PATIENT,
        amount=usd(cents),
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
    )
    open_attempt(payment)
    settle(payment, paid(payment), T0)
    wallet = Wallet(PATIENT)
    wallet.post(post_confirmation(payment, RULES, STRIPE_LIKE_FEES).transaction, TOP_UP)
    return wallet


def test_a_confirmed_top_up_credits_the_wallet_in_full() -> None:
    wallet = topped_up(5_000)
    assert wallet.balance("USD") == usd(5_000)
    [movement] = wallet.transactions
    assert (movement.kind, movement.amount, movement.balance_after) == (
        TOP_UP,
        usd(5_000),
        usd(5_000),
    )


def test_a_wallet_balance_is_what_the_ledger_entries_say() -> None:
    account = Account.patient_wallet(PATIENT)
    entries = [
        Entry(account, usd(-5_000)),
        Entry(account, usd(1_500)),
        Entry(Account.patient_wallet("someone-else"), usd(-99)),
        Entry(account, Money(-300, "KWD")),
    ]
    wallet = Wallet.from_entries(PATIENT, entries)
    assert wallet.holdings == [Money(300, "KWD"), usd(3_500)]
    assert wallet.balance("EUR") == Money(0, "EUR")


def test_a_wallet_payment_debits_and_confirms_in_one_step() -> None:
    wallet = topped_up(15_000)
    payment = a_payment(method=PaymentMethod.WALLET)
    confirmation = pay_from_wallet(payment, wallet, RULES, T0)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert wallet.balance("USD") == usd(5_000)
    assert wallet.transactions[-1].kind is WalletTransactionKind.PAYMENT
    assert wallet.transactions[-1].amount == usd(-10_000)
    confirmed = payment.events[-1]
    assert isinstance(confirmed, PaymentConfirmed)
    assert (confirmed.method, confirmed.gateway_ref) == (PaymentMethod.WALLET, "")
    # A wallet payment costs no gateway fee.
    assert confirmation.payouts[0].split.gateway_fee.is_zero


def test_a_short_wallet_is_refused_with_the_shortfall_and_the_failed_attempt_kept() -> None:
    wallet = topped_up(4_000)
    payment = a_payment(method=PaymentMethod.WALLET)
    with pytest.raises(InsufficientWalletBalance) as refused:
        pay_from_wallet(payment, wallet, RULES, T0)
    error = refused.value
    assert isinstance(error, FailedPrecondition)
    assert (error.balance, error.required, error.shortfall) == (usd(4_000), usd(10_000), usd(6_000))
    assert error.metadata["shortfall_minor"] == "6000"
    assert error.metadata["shortfall_currency"] == "USD"
    assert wallet.balance("USD") == usd(4_000)
    assert payment.attempts[0].status is AttemptStatus.FAILED
    assert payment.status is PaymentStatus.REQUIRES_PAYMENT
    failed = payment.events[-1]
    assert isinstance(failed, PaymentFailed)
    assert (failed.failure.code, failed.retryable) == ("insufficient_funds", True)


def test_after_a_short_wallet_the_patient_can_switch_to_the_gateway() -> None:
    payment = a_payment(method=PaymentMethod.WALLET)
    with pytest.raises(InsufficientWalletBalance):
        pay_from_wallet(payment, Wallet(PATIENT), RULES, T0)
    open_attempt(payment, "cs_2")
    assert payment.method is PaymentMethod.GATEWAY
    assert payment.status is PaymentStatus.PROCESSING


def test_a_refund_of_a_wallet_payment_goes_back_to_the_wallet_at_once() -> None:
    wallet = topped_up(10_000)
    payment = a_payment(method=PaymentMethod.WALLET)
    confirmation = pay_from_wallet(payment, wallet, RULES, T0)
    refund = request_refund(
        payment,
        key="refund:payment-1",
        amount=None,
        reason="slot_taken",
        destination=RefundDestination.ORIGINAL_METHOD,
        at=T0,
    )
    assert (refund.status, refund.via_gateway) == (RefundStatus.SUCCEEDED, False)
    assert isinstance(payment.events[-1], PaymentRefunded)
    wallet.post(post_refund(payment, refund.id, confirmation.payouts, RULES), REFUND)
    assert wallet.balance("USD") == usd(10_000)
    assert payment.status is PaymentStatus.REFUNDED


def test_a_wallet_never_goes_negative_whatever_is_posted() -> None:
    wallet = topped_up(1_000)
    entries = [
        Entry(Account.patient_wallet(PATIENT), usd(1_001)),
        Entry(Account.patient_wallet("someone-else"), usd(-1_001)),
    ]
    overdraw = LedgerTransaction.of("t-1", Memo.PAYMENT_CONFIRMED, "p-1", entries, T0)
    with pytest.raises(InsufficientWalletBalance):
        wallet.post(overdraw, WalletTransactionKind.PAYMENT)
    assert wallet.balance("USD") == usd(1_000) and len(wallet.transactions) == 1


def test_a_wallet_pays_only_for_its_own_patient() -> None:
    payment = a_payment(method=PaymentMethod.WALLET)
    with pytest.raises(ValueError):
        pay_from_wallet(payment, Wallet("someone-else"), RULES, T0)
