from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.currency import CURRENCIES
from runtime.money import Money
from services.payment.domain.fees import STRIPE_LIKE_FEES, GatewayFees
from services.payment.domain.ledger import (
    GATEWAY_CLEARING,
    GATEWAY_FEES,
    PLATFORM_REVENUE,
    REFUNDS,
    Account,
    Entry,
    LedgerTransaction,
    Memo,
    balance,
)
from services.payment.domain.payment import Payment
from services.payment.domain.payouts import FeeBearer, PayoutRules, PayoutStatus
from services.payment.domain.postings import (
    post_confirmation,
    post_refund,
    post_rejected_capture,
    post_release,
)
from services.payment.domain.refund import RefundDestination
from services.payment.domain.refunding import request_refund
from services.payment.domain.rounding import Rate
from services.payment.domain.settlement import GatewayPaid, GatewayRefunded, settle, settle_refund
from services.payment.domain.wallet import top_up
from tests.unit.payment.builders import (
    DOCTOR,
    T0,
    a_payment,
    doctor_line,
    open_attempt,
    paid,
    platform_line,
    usd,
)

RULES = PayoutRules()
PAYABLE = Account.doctor_payable(DOCTOR)
AVAILABLE = Account.doctor_available(DOCTOR)


def a_paid_payment(amount: Money | None = None, lines=None) -> Payment:
    payment = a_payment(amount, lines)
    open_attempt(payment)
    settle(payment, paid(payment), T0)
    return payment


def legs(transaction: LedgerTransaction) -> list[tuple[str, int]]:
    return [(e.account.kind.value, e.amount.amount_minor) for e in transaction.entries]


def balances(transactions: Iterable[LedgerTransaction], *accounts: Account) -> list[int]:
    entries = [entry for t in transactions for entry in t.entries]
    return [balance(account, "USD", entries).amount_minor for account in accounts]


def refund_in_full(payment: Payment, at_offset: timedelta = timedelta(days=1)) -> str:
    refund = request_refund(
        payment,
        key=f"refund:{payment.id}",
        amount=None,
        reason="slot_taken",
        destination=RefundDestination.ORIGINAL_METHOD,
        at=T0 + at_offset,
    )
    settle_refund(payment, GatewayRefunded(refund.id), T0 + at_offset)
    return refund.id


def test_a_confirmed_gateway_payment_is_split_between_gateway_doctor_and_platform() -> None:
    confirmation = post_confirmation(a_paid_payment(), RULES, STRIPE_LIKE_FEES)
    assert confirmation.transaction.memo is Memo.PAYMENT_CONFIRMED
    assert legs(confirmation.transaction) == [
        ("gateway_clearing", 10_000),
        ("gateway_clearing", -320),
        ("gateway_fees", 320),
        ("doctor_payable", -9_380),
        ("platform_revenue", -620),
    ]
    [payout] = confirmation.payouts
    assert (payout.doctor_id, payout.split.net, payout.status) == (
        DOCTOR,
        usd(9_380),
        PayoutStatus.HELD,
    )


def test_the_platforms_own_line_is_revenue_and_carries_its_share_of_the_gateway_fee() -> None:
    payment = a_paid_payment(usd(10_500), [doctor_line(usd(10_000)), platform_line(usd(500))])
    confirmation = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    # 2.9% of 105.00 + 0.30 = 3.3450 → 3.35 (half up); the doctor's share is 10000/10500.
    assert confirmation.payouts[0].split.gateway_fee == usd(319)
    assert balances([confirmation.transaction], GATEWAY_FEES, PLATFORM_REVENUE) == [335, -1_119]


def test_posting_the_same_fact_twice_gives_the_same_transaction_id() -> None:
    payment = a_paid_payment()
    first = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    again = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    assert first.transaction.id == again.transaction.id
    assert first.payouts[0].id == again.payouts[0].id


def test_an_unconfirmed_payment_posts_nothing() -> None:
    with pytest.raises(ValueError):
        post_confirmation(a_payment(), RULES, STRIPE_LIKE_FEES)


def test_a_refund_before_release_reverses_the_payout_and_the_platform_absorbs_the_fee() -> None:
    payment = a_paid_payment()
    confirmation = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    refund_id = refund_in_full(payment)
    refund = post_refund(payment, refund_id, confirmation.payouts, RULES)
    assert refund.memo is Memo.REFUND
    assert confirmation.payouts[0].status is PayoutStatus.REVERSED
    ledger = [confirmation.transaction, refund]
    # The gateway kept its fee: the clearing account owes it, and it is the platform's cost.
    assert balances(ledger, GATEWAY_CLEARING, GATEWAY_FEES, PAYABLE, PLATFORM_REVENUE) == [
        -320,
        320,
        0,
        0,
    ]


def test_when_the_doctor_bears_the_gateway_fee_a_partial_refund_keeps_it_off_the_platform() -> None:
    rules = PayoutRules(gateway_fee_on_refund=FeeBearer.DOCTOR)
    payment = a_paid_payment()
    confirmation = post_confirmation(payment, rules, STRIPE_LIKE_FEES)
    refund = request_refund(
        payment,
        key="half",
        amount=usd(5_000),
        reason="reservation_cancelled",
        destination=RefundDestination.ORIGINAL_METHOD,
        at=T0,
    )
    settle_refund(payment, GatewayRefunded(refund.id), T0)
    posted = post_refund(payment, refund.id, confirmation.payouts, rules)
    ledger = [confirmation.transaction, posted]
    assert balances(ledger, PAYABLE, PLATFORM_REVENUE) == [-4_530, -470]


def test_a_refund_after_release_is_absorbed_by_the_platform() -> None:
    payment = a_paid_payment()
    confirmation = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    [payout] = confirmation.payouts
    payout.release(T0 + timedelta(days=30))
    released = post_release(payout)
    assert released is not None and legs(released) == [
        ("doctor_payable", 9_380),
        ("doctor_available", -9_380),
    ]
    refund_id = refund_in_full(payment, timedelta(days=31))
    refund = post_refund(payment, refund_id, confirmation.payouts, RULES)
    ledger = [confirmation.transaction, released, refund]
    assert balances(ledger, AVAILABLE, REFUNDS, GATEWAY_CLEARING) == [-9_380, 10_000, -320]
    assert payout.status is PayoutStatus.RELEASED


def test_a_payout_with_nothing_left_to_release_posts_nothing() -> None:
    payment = a_paid_payment(usd(25))
    [payout] = post_confirmation(payment, RULES, STRIPE_LIKE_FEES).payouts
    assert payout.split.net.is_zero
    payout.release(T0 + timedelta(days=30))
    assert post_release(payout) is None


def test_a_rejected_capture_is_owed_back_until_its_refund_pays_it() -> None:
    payment = a_payment()
    attempt = open_attempt(payment)
    settle(payment, GatewayPaid("cs_1", usd(9_000)), T0)
    owed = post_rejected_capture(payment, attempt.id, STRIPE_LIKE_FEES, T0)
    assert owed.memo is Memo.CAPTURE_REJECTED
    assert balances([owed], REFUNDS, GATEWAY_CLEARING) == [-9_000, 9_000 - 291]
    settle_refund(payment, GatewayRefunded(payment.refunds[0].id), T0)
    paid_back = post_refund(payment, payment.refunds[0].id, [], RULES)
    assert balances([owed, paid_back], REFUNDS, GATEWAY_CLEARING, GATEWAY_FEES) == [0, -291, 291]


def test_a_capture_that_was_not_rejected_has_no_rejection_to_post() -> None:
    payment = a_paid_payment()
    with pytest.raises(ValueError):
        post_rejected_capture(payment, payment.attempts[0].id, STRIPE_LIKE_FEES, T0)


def test_a_refund_still_pending_posts_nothing() -> None:
    payment = a_paid_payment()
    confirmation = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    refund = request_refund(
        payment,
        key="k",
        amount=None,
        reason="slot_taken",
        destination=RefundDestination.ORIGINAL_METHOD,
        at=T0,
    )
    with pytest.raises(ValueError):
        post_refund(payment, refund.id, confirmation.payouts, RULES)


def test_a_top_up_credits_the_patients_wallet_and_the_platform_pays_the_gateway_fee() -> None:
    payment = top_up(
        payment_id="topup-1",
        patient_id="patient-1",
        amount=usd(5_000),
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
    )
    open_attempt(payment)
    settle(payment, paid(payment), T0)
    posted = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    assert posted.payouts == ()
    assert Entry(Account.patient_wallet("patient-1"), usd(-5_000)) in posted.transaction.entries


@settings(max_examples=100, deadline=None)
@given(
    currency=st.sampled_from(sorted(CURRENCIES)),
    shares=st.lists(st.integers(1, 2 * 10**7), min_size=1, max_size=4),
    platform_share=st.integers(0, 10**6),
    fees=st.builds(
        GatewayFees,
        st.integers(0, 100).map(lambda tenths: Rate(Fraction(tenths, 1000))),
        st.integers(0, 100).map(lambda cents: Decimal(cents) / 100),
    ),
    bearer=st.sampled_from(FeeBearer),
    refunds=st.lists(st.integers(1, 10**8), max_size=4),
)
def test_every_posting_balances_for_any_currency_lines_fees_and_refunds(
    currency, shares, platform_share, fees, bearer, refunds
) -> None:
    rules = PayoutRules(gateway_fee_on_refund=bearer)
    lines = [doctor_line(Money(share, currency), f"doctor-{i}") for i, share in enumerate(shares)]
    if platform_share:
        lines.append(platform_line(Money(platform_share, currency)))
    payment = a_paid_payment(Money(sum(shares) + platform_share, currency), lines)
    confirmation = post_confirmation(payment, rules, fees)
    ledger = [confirmation.transaction]
    for i, cents in enumerate(refunds):
        amount = Money(min(cents, payment.refundable.amount_minor), currency)
        if amount.is_zero:
            break
        refund = request_refund(
            payment,
            key=f"k{i}",
            amount=amount,
            reason="slot_taken",
            destination=RefundDestination.WALLET,
            at=T0,
        )
        ledger.append(post_refund(payment, refund.id, confirmation.payouts, rules))
    entries = [entry for t in ledger for entry in t.entries]
    assert sum(e.amount.amount_minor for e in entries) == 0
    held = sum(p.split.net.amount_minor for p in confirmation.payouts)
    payable = sum(
        balance(Account.doctor_payable(p.doctor_id), currency, entries).amount_minor
        for p in confirmation.payouts
    )
    assert payable == -held
    assert (
        balance(Account.patient_wallet(payment.patient_id), currency, entries) == -payment.refunded
    )
