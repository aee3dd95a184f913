"""A line's held payout follows whoever does the work, by ledger transfers, in order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.payment.domain.errors import InvalidPayee, PaymentNotCaptured
from services.payment.domain.fees import STRIPE_LIKE_FEES
from services.payment.domain.ledger import GATEWAY_FEES, PLATFORM_REVENUE, Account, Memo
from services.payment.domain.payees import LinePayee, change_payee
from services.payment.domain.payouts import PayoutStatus
from services.payment.domain.postings import post_confirmation, post_refund
from tests.unit.payment.builders import DOCTOR, T0, a_payment, platform_line, usd
from tests.unit.payment.test_postings import (
    RULES,
    a_paid_payment,
    balances,
    legs,
    refund_in_full,
)

OTHER = "doctor-2"
FEE = usd(320)  # 2.9% of 100.00 + 0.30, as the capture's confirmation posted it
LATER = T0 + timedelta(minutes=5)


def to(payment, doctor_id, assignment, at=LATER) -> LinePayee:
    return LinePayee(payment.id, 0, doctor_id, assignment, at)


def payable(doctor_id: str) -> Account:
    return Account.doctor_payable(doctor_id)


def handed(doctor_id: str | None, assignment: int, released: bool = False):
    """A payment made out to DOCTOR and confirmed (its payout released, if so), then its
    line handed to `doctor_id`: the payment, its confirmation, the first payout, the change."""
    payment = a_paid_payment()
    confirmation = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    [first] = confirmation.payouts
    if released:
        first.release(first.release_at)
    now = LinePayee.as_made(payment, 0)
    change = change_payee(payment, now, to(payment, doctor_id, assignment), [first], RULES, FEE)
    assert change is not None
    return payment, confirmation, first, change


def test_a_platform_line_given_to_a_doctor_pays_them_what_a_doctor_line_would() -> None:
    payment = a_paid_payment(lines=[platform_line(usd(10_000))])
    confirmation = post_confirmation(payment, RULES, STRIPE_LIKE_FEES)
    assert confirmation.payouts == ()

    change = change_payee(
        payment, LinePayee.as_made(payment, 0), to(payment, OTHER, 1), [], RULES, FEE
    )

    assert change is not None and change.transaction is not None
    assert change.transaction.memo is Memo.PAYEE_CHANGED
    assert legs(change.transaction) == [("platform_revenue", 9_380), ("doctor_payable", -9_380)]
    [payout] = change.payouts
    # 100.00 less 3.00 platform fee and 3.20 gateway fee; held from the payment's time.
    assert (payout.doctor_id, payout.status, payout.split.net, payout.split.platform_fee) == (
        OTHER,
        PayoutStatus.HELD,
        usd(9_380),
        usd(300),
    )
    assert (payout.earned_at, payout.release_at) == (T0, T0 + RULES.hold)
    ledger = [confirmation.transaction, change.transaction]
    assert balances(ledger, PLATFORM_REVENUE, payable(OTHER)) == [-620, -9_380]


def test_a_decline_and_reassignment_moves_the_held_payout_and_a_refund_takes_it_back() -> None:
    payment, confirmation, first, change = handed(OTHER, 2)

    assert change.transaction is not None
    moved, given = change.payouts
    assert (moved.id, moved.status, moved.moved_at) == (first.id, PayoutStatus.MOVED, LATER)
    assert (given.doctor_id, given.status, given.split) == (OTHER, PayoutStatus.HELD, first.split)
    assert given.id != first.id and given.release_at == first.release_at
    ledger = [confirmation.transaction, change.transaction]
    assert balances(ledger, payable(DOCTOR), payable(OTHER), PLATFORM_REVENUE) == [
        0,
        -9_380,
        -620,
    ]

    refund = post_refund(payment, refund_in_full(payment), [moved, given], RULES)
    assert given.status is PayoutStatus.REVERSED and moved.status is PayoutStatus.MOVED
    ledger.append(refund)
    assert balances(ledger, payable(DOCTOR), payable(OTHER), PLATFORM_REVENUE) == [0, 0, 0]


def test_a_consultation_nobody_took_goes_back_to_the_platform_until_refunded() -> None:
    payment, confirmation, first, change = handed(None, 1)

    assert change.transaction is not None
    assert change.payouts == (first,) and first.status is PayoutStatus.MOVED
    ledger = [confirmation.transaction, change.transaction]
    # The platform's fee and the doctor's net: the whole line, as a platform line has it.
    assert balances(ledger, payable(DOCTOR), PLATFORM_REVENUE) == [0, -10_000]
    ledger.append(post_refund(payment, refund_in_full(payment), [first], RULES))
    # The platform gave it all back; the gateway's fee stays a cost (gateway_fees).
    assert balances(ledger, payable(DOCTOR), PLATFORM_REVENUE, GATEWAY_FEES) == [0, 0, 320]


def test_a_change_not_newer_than_the_lines_changes_nothing() -> None:
    payment = a_paid_payment()
    [first] = post_confirmation(payment, RULES, STRIPE_LIKE_FEES).payouts
    now = to(payment, OTHER, 2)

    assert change_payee(payment, now, to(payment, None, 1), [first], RULES, FEE) is None
    assert change_payee(payment, now, to(payment, OTHER, 2), [first], RULES, FEE) is None
    assert first.status is PayoutStatus.HELD


def test_a_released_payout_stays_with_its_doctor() -> None:
    _, _, first, change = handed(OTHER, 1, released=True)

    assert (change.payouts, change.transaction, change.payee.doctor_id) == ((), None, OTHER)
    assert first.status is PayoutStatus.RELEASED


def test_a_change_of_payee_needs_a_confirmed_payment_and_a_line_it_has() -> None:
    unpaid = a_payment()
    with pytest.raises(PaymentNotCaptured):
        change_payee(unpaid, LinePayee.as_made(unpaid, 0), to(unpaid, OTHER, 1), [], RULES, FEE)
    payment = a_paid_payment()
    beyond = LinePayee(payment.id, 1, OTHER, 1, LATER)
    with pytest.raises(InvalidPayee):
        change_payee(payment, LinePayee.as_made(payment, 0), beyond, [], RULES, FEE)
