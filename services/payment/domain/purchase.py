"""What a payment pays for and who receives it, in the purchasing context's own words.

Payment never learns what a slot or a symptom is: a purchase is a kind and a ref owned by
the context that sells it, and payee lines say whose money each part is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from runtime.errors import CurrencyMismatch, FieldRequired, MalformedField
from runtime.money import Money, total
from services.payment.domain.errors import (
    FieldTooLong,
    InvalidPayee,
    PayeeLinesDoNotAddUp,
    PayeeLinesMissing,
    TooManyPayeeLines,
)

WALLET_TOP_UP = "wallet_topup"
MAX_LINES = 50
MAX_ID = 128
MAX_TEXT = 500
_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")


class PaymentMethod(Enum):
    GATEWAY = "gateway"
    WALLET = "wallet"


class PayeeKind(Enum):
    DOCTOR = "doctor"
    PLATFORM = "platform"
    # The paying patient's own wallet: the one line of a top-up.
    WALLET = "wallet"


def require_text(value: str, field: str, limit: int = MAX_ID) -> str:
    if not value:
        raise FieldRequired(field)
    if len(value) > limit:
        raise FieldTooLong(field, limit)
    return value


@dataclass(frozen=True)
class Purchase:
    # A string, not an enum, so that a new kind of purchase needs no change here.
    kind: str
    ref: str

    def __post_init__(self) -> None:
        if not _KIND.fullmatch(self.kind or ""):
            raise MalformedField(
                "purchase.kind", "must be lower-case letters, digits and _, like booking"
            )
        require_text(self.ref, "purchase.ref")

    @property
    def is_top_up(self) -> bool:
        return self.kind == WALLET_TOP_UP


@dataclass(frozen=True)
class PayeeLine:
    payee: PayeeKind
    # The doctor's id, the topped-up patient's id, or empty for the platform.
    payee_id: str
    amount: Money
    description: str = ""


def check_lines(
    amount: Money,
    lines: Sequence[PayeeLine],
    purchase: Purchase,
    patient_id: str,
) -> None:
    """The rules a payment's lines follow, so no share of the money is ever a guess:
    each is positive, in the payment's currency, for a payee that can receive it, and
    together they are the amount exactly."""
    if not lines:
        raise PayeeLinesMissing()
    if len(lines) > MAX_LINES:
        raise TooManyPayeeLines(MAX_LINES)
    for i, line in enumerate(lines):
        field = f"lines[{i}]"
        if line.amount.currency != amount.currency:
            raise CurrencyMismatch(amount.currency, line.amount.currency, f"{field}.amount")
        if not line.amount.is_positive:
            raise InvalidPayee(f"{field}.amount", "must be positive")
        if len(line.description) > MAX_TEXT:
            raise FieldTooLong(f"{field}.description", MAX_TEXT)
        _check_payee(line, field, purchase, patient_id)
    lines_total = total((line.amount for line in lines), amount.currency)
    if lines_total != amount:
        raise PayeeLinesDoNotAddUp(amount, lines_total)


def _check_payee(line: PayeeLine, field: str, purchase: Purchase, patient_id: str) -> None:
    if line.payee is PayeeKind.PLATFORM:
        if line.payee_id:
            raise InvalidPayee(f"{field}.payee_id", "must be empty for the platform")
        return
    require_text(line.payee_id, f"{field}.payee_id")
    if line.payee is PayeeKind.WALLET:
        # A wallet line is a top-up, and a patient tops up only their own wallet: anything
        # else would be paying money to someone through a side door.
        if not purchase.is_top_up or line.payee_id != patient_id:
            raise InvalidPayee(
                f"{field}.payee_id", "a wallet line only tops up the paying patient's wallet"
            )
    elif purchase.is_top_up:
        raise InvalidPayee(f"{field}.payee_kind", "a top-up pays only into the patient's wallet")
