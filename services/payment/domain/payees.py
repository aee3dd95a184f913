"""Who is paid for each line of a confirmed payment now, and what a change of payee moves.

The payee a line was made with is its first (assignment 0). When the work it pays for
changes hands (a consultation given to a doctor by shift, declined and given to another,
or left to nobody before its refund), the purchasing context says who has it now, and
numbers each change; only a higher number than the line has applies, so redelivered and
overtaken messages change nothing. History is never edited: the held payout is marked
moved, the next payee's payout carries its split and hold on, and one balanced ledger
transaction moves the net between them.

    doctor A → doctor B    doctor_payable(A) +net, doctor_payable(B) -net
    platform → doctor B    platform_revenue  +net, doctor_payable(B) -net
    doctor A → platform    doctor_payable(A) +net, platform_revenue  -net

The fees stay where confirmation put them: the gateway kept its fee, and the platform fee
is the platform's whoever does the work. A payout already released (or reversed by a
refund) has nothing left to move, and a platform line whose payment is being refunded is
going back to the patient: the change is recorded and the money stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from runtime.money import Money
from services.payment.domain.errors import InvalidPayee, PaymentNotCaptured
from services.payment.domain.fees import split_lines
from services.payment.domain.ids import derived_id
from services.payment.domain.ledger import PLATFORM_REVENUE, Account, Entry, LedgerTransaction, Memo
from services.payment.domain.payment import Payment
from services.payment.domain.payouts import Payout, PayoutRules, PayoutStatus, current_payout
from services.payment.domain.purchase import PayeeKind


@dataclass(frozen=True)
class LinePayee:
    payment_id: str
    line: int
    # None: the platform.
    doctor_id: str | None
    assignment: int
    assigned_at: datetime | None = None

    @classmethod
    def as_made(cls, payment: Payment, line: int) -> LinePayee:
        made = payment.lines[line]
        return cls(payment.id, line, made.payee_id if made.payee is PayeeKind.DOCTOR else None, 0)


@dataclass(frozen=True)
class PayeeChange:
    payee: LinePayee
    # The payouts it changed: the one moved, and the next payee's.
    payouts: tuple[Payout, ...] = ()
    transaction: LedgerTransaction | None = None


def check_payee_change(payment: Payment, to: LinePayee) -> None:
    """A change of payee is about a confirmed payment's doctor or platform line."""
    if not payment.is_confirmed:
        raise PaymentNotCaptured(payment.id, payment.status.value)
    if not 0 <= to.line < len(payment.lines):
        raise InvalidPayee("line", f"payment {payment.id} has {len(payment.lines)} lines")
    if payment.lines[to.line].payee is PayeeKind.WALLET:
        raise InvalidPayee("line", "a top-up's wallet line has no other payee")
    if to.assignment < 1:
        raise InvalidPayee("assignment", "changes are numbered from 1")


def change_payee(
    payment: Payment,
    now: LinePayee,
    to: LinePayee,
    payouts: Sequence[Payout],
    rules: PayoutRules,
    gateway_fee: Money,
) -> PayeeChange | None:
    """What handing line `to.line` from `now` to `to` changes; None when `to` is not newer.
    `payouts` are the payment's; `gateway_fee` is what the gateway kept of its capture
    (zero for a wallet payment), which a platform line's split needs."""
    check_payee_change(payment, to)
    if to.assignment <= now.assignment:
        return None
    if to.doctor_id == now.doctor_id:
        return PayeeChange(to)
    at = to.assigned_at or payment.confirmed_at
    assert at is not None and payment.confirmed_at is not None
    current = current_payout(payouts, to.line)
    if current is not None:
        if current.status is not PayoutStatus.HELD:
            return PayeeChange(to)
        net = current.split.net
        given = current.hand_to(to.doctor_id, to.assignment, at)
        source = Account.doctor_payable(current.doctor_id)
        changed = (current,) if given is None else (current, given)
    else:
        if to.doctor_id is None or payment.refundable != payment.captured:
            return PayeeChange(to)
        lines = [line.amount for line in payment.lines]
        split = split_lines(lines, rules.platform_fee, gateway_fee)[to.line]
        given = Payout.earn(
            to.doctor_id, payment.id, to.line, split, payment.confirmed_at, rules, to.assignment
        )
        net, source, changed = split.net, PLATFORM_REVENUE, (given,)
    if net.is_zero:
        return PayeeChange(to, changed)
    target = PLATFORM_REVENUE if to.doctor_id is None else Account.doctor_payable(to.doctor_id)
    transaction = LedgerTransaction.of(
        derived_id(payment.id, "ledger", Memo.PAYEE_CHANGED.value, to.line, to.assignment),
        Memo.PAYEE_CHANGED,
        payment.id,
        [Entry(source, net), Entry(target, -net)],
        at,
    )
    return PayeeChange(to, changed, transaction)
