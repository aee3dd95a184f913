"""What each money fact writes to the ledger: one balanced transaction per fact.

The handler posts when the fact's event appears: PaymentConfirmed → `post_confirmation`
(which also earns the doctors' payouts), CaptureRejected → `post_rejected_capture`,
PaymentRefunded or CaptureRefunded → `post_refund`, a released payout → `post_release`.
Transaction ids are derived from the fact, so posting the same fact twice is refused by
the ledger's primary key instead of counting the money twice.

A confirmed gateway payment of 100.00 USD for one doctor, say, writes

    gateway_clearing   +100.00   the gateway captured it
    gateway_clearing     -3.20   and keeps its fee (2.9% + 0.30)
    gateway_fees         +3.20
    doctor_payable      -93.80   the doctor's net, held
    platform_revenue     -6.20   the platform fee (3%) and the gateway fee recovered
                                 from the doctor's share
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from runtime.money import Money
from services.payment.domain.fees import GatewayFees, split_lines
from services.payment.domain.ids import derived_id
from services.payment.domain.ledger import (
    GATEWAY_CLEARING,
    GATEWAY_FEES,
    PLATFORM_REVENUE,
    REFUNDS,
    Account,
    Entry,
    LedgerTransaction,
    Memo,
)
from services.payment.domain.payment import Payment
from services.payment.domain.payouts import Payout, PayoutRules, PayoutStatus, current_payout
from services.payment.domain.purchase import PayeeKind, PayeeLine, PaymentMethod
from services.payment.domain.refund import RefundStatus


@dataclass(frozen=True)
class Confirmation:
    transaction: LedgerTransaction
    # One held payout per doctor line.
    payouts: tuple[Payout, ...]


def post_confirmation(
    payment: Payment, rules: PayoutRules, gateway_fees: GatewayFees
) -> Confirmation:
    """The confirmed capture, split between its payees; `gateway_fees` are the price list
    of the gateway that captured it (ignored for wallet payments, which cost nothing)."""
    if payment.confirmed_attempt_id is None or payment.confirmed_at is None:
        raise ValueError(f"payment {payment.id} is not confirmed")
    amount, at = payment.amount, payment.confirmed_at
    entries: list[Entry] = []
    if payment.attempt(payment.confirmed_attempt_id).method is PaymentMethod.WALLET:
        fee = Money.zero(amount.currency)
        entries.append(Entry(Account.patient_wallet(payment.patient_id), amount))
    else:
        fee = gateway_fees.fee_for(amount)
        entries += _captured_by_gateway(amount, fee)
    splits = split_lines([line.amount for line in payment.lines], rules.platform_fee, fee)
    payouts = []
    for i, (line, split) in enumerate(zip(payment.lines, splits, strict=True)):
        if line.payee is PayeeKind.DOCTOR:
            entries.append(Entry(Account.doctor_payable(line.payee_id), -split.net))
            entries.append(Entry(PLATFORM_REVENUE, -(split.platform_fee + split.gateway_fee)))
            payouts.append(Payout.earn(line.payee_id, payment.id, i, split, at, rules))
        else:
            entries.append(Entry(_owner_of(line), -line.amount))
    transaction = LedgerTransaction.of(
        derived_id(payment.id, "ledger", Memo.PAYMENT_CONFIRMED.value),
        Memo.PAYMENT_CONFIRMED,
        payment.id,
        entries,
        at,
    )
    return Confirmation(transaction, tuple(payouts))


def post_rejected_capture(
    payment: Payment, attempt_id: str, gateway_fees: GatewayFees, at: datetime
) -> LedgerTransaction:
    """Money the gateway took that cannot pay the intent: owed back to the patient (the
    refunds account holds the debt until the refund succeeds). The gateway keeps its fee
    on it, and that cost is the platform's."""
    attempt = payment.attempt(attempt_id)
    if attempt.captured is None or attempt not in payment.rejected_captures:
        raise ValueError(f"attempt {attempt_id} has no rejected capture")
    captured = attempt.captured
    return LedgerTransaction.of(
        derived_id(payment.id, "ledger", Memo.CAPTURE_REJECTED.value, attempt.id),
        Memo.CAPTURE_REJECTED,
        payment.id,
        [
            *_captured_by_gateway(captured, gateway_fees.fee_for(captured)),
            Entry(REFUNDS, -captured),
        ],
        at,
    )


def post_refund(
    payment: Payment, refund_id: str, payouts: Sequence[Payout], rules: PayoutRules
) -> LedgerTransaction:
    """A succeeded refund. Each payee line gives back its allocated share: a doctor's held
    payout shrinks (or is reversed), a released one is past taking back, so the platform
    absorbs it. `payouts` are the payment's payouts; the ones still held change here."""
    refund = payment.refund(refund_id)
    if refund.status is not RefundStatus.SUCCEEDED or refund.settled_at is None:
        raise ValueError(f"refund {refund_id} has not succeeded")
    at = refund.settled_at
    paid_to = GATEWAY_CLEARING if refund.via_gateway else Account.patient_wallet(payment.patient_id)
    entries = [Entry(paid_to, -refund.amount)]
    if refund.capture_id != payment.confirmed_attempt_id:
        # A rejected capture: the debt posted by post_rejected_capture is paid.
        entries.append(Entry(REFUNDS, refund.amount))
    else:
        entries += _taken_back(payment, refund.allocation, payouts, rules, at)
    return LedgerTransaction.of(
        derived_id(refund.id, "ledger"), Memo.REFUND, payment.id, entries, at
    )


def _taken_back(
    payment: Payment,
    allocation: tuple[int, ...],
    payouts: Sequence[Payout],
    rules: PayoutRules,
    at: datetime,
) -> list[Entry]:
    entries = []
    currency = payment.currency
    ours = [payout for payout in payouts if payout.payment_id == payment.id]
    for i, (line, share) in enumerate(zip(payment.lines, allocation, strict=True)):
        given_back = Money(share, currency)
        # Whoever holds the line now gives it back: its payee may have changed since the
        # payment was made (payees.change_payee).
        payout = current_payout(ours, i)
        if payout is None:
            if line.payee is PayeeKind.DOCTOR and not any(p.line == i for p in ours):
                raise ValueError(f"payment {payment.id} line {i} has no payout to take back from")
            entries.append(Entry(_owner_of(line), given_back))
        elif payout.status is PayoutStatus.HELD and not given_back.is_zero:
            net = payout.take_back(given_back, rules.gateway_fee_on_refund, at)
            entries.append(Entry(Account.doctor_payable(payout.doctor_id), net))
            entries.append(Entry(PLATFORM_REVENUE, given_back - net))
        else:
            entries.append(Entry(REFUNDS, given_back))
    return entries


def post_release(payout: Payout) -> LedgerTransaction | None:
    """A released payout's net, from payable to available; None when nothing is left."""
    if payout.status is not PayoutStatus.RELEASED or payout.released_at is None:
        raise ValueError(f"payout {payout.id} is not released")
    net = payout.split.net
    if net.is_zero:
        return None
    return LedgerTransaction.of(
        derived_id(payout.id, "ledger", Memo.PAYOUT_RELEASED.value),
        Memo.PAYOUT_RELEASED,
        payout.payment_id,
        [
            Entry(Account.doctor_payable(payout.doctor_id), net),
            Entry(Account.doctor_available(payout.doctor_id), -net),
        ],
        payout.released_at,
    )


def _captured_by_gateway(captured: Money, fee: Money) -> list[Entry]:
    return [
        Entry(GATEWAY_CLEARING, captured),
        Entry(GATEWAY_CLEARING, -fee),
        Entry(GATEWAY_FEES, fee),
    ]


def _owner_of(line: PayeeLine) -> Account:
    """Where a line no doctor holds goes: the platform's own sale (or a doctor's line the
    platform took back), or a top-up."""
    if line.payee is PayeeKind.WALLET:
        return Account.patient_wallet(line.payee_id)
    return PLATFORM_REVENUE
