"""Money: an integer count of a currency's minor unit, signed, in one ISO 4217 currency.

Every context holds money this one way: booking's fees and refunds, consultation's prices
and payment's ledger. Signed because the ledger needs debits and credits and a wallet
movement has a direction; whether an amount may be negative or zero is the rule of the
field that holds it, and input is checked by `parse_amount` at each context's edge.
Arithmetic and comparison work only within one currency, so a rial can never be added to
a dollar by accident. There is no float anywhere: a float cannot hold 0.1 exactly, and a
ledger that is off by a fraction of a cent does not balance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from runtime.currency import Currency, currency_of
from runtime.errors import (
    AmountAboveLimit,
    AmountNegative,
    AmountNotPositive,
    AmountTooPrecise,
    CurrencyMismatch,
    InvalidArgument,
    MalformedField,
    UnknownCurrency,
)

# Amounts are stored in BIGINT columns and sent as int64; nothing larger may exist.
_INT64 = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount_minor) is not int:
            raise TypeError(f"money is an int of minor units, not {self.amount_minor!r}")
        if not -_INT64 <= self.amount_minor <= _INT64:
            raise OverflowError(f"{self.amount_minor} minor units do not fit in 64 bits")
        currency_of(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_major(cls, text: str, currency: str, field: str = "amount") -> Money:
        """Money written in major units, as people and configuration files write it:
        "12.34" USD is 1234 cents. More decimals than the currency has are refused, never
        rounded, because a silently rounded price is a wrong price."""
        exponent = currency_of(currency, f"{field}.currency").exponent
        try:
            value = Decimal(text.strip())
        except (InvalidOperation, AttributeError):
            raise MalformedField(field, f"{text!r} is not a decimal number") from None
        if not value.is_finite():
            raise MalformedField(field, f"{text!r} is not a decimal number")
        minor = value.scaleb(exponent)
        if minor != minor.to_integral_value():
            raise AmountTooPrecise(text, exponent, field)
        return cls(int(minor), currency)

    def same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self.same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self.same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self.same_currency(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self.same_currency(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self.same_currency(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self.same_currency(other)
        return self.amount_minor >= other.amount_minor

    @property
    def is_zero(self) -> bool:
        return self.amount_minor == 0

    @property
    def is_positive(self) -> bool:
        return self.amount_minor > 0

    @property
    def is_negative(self) -> bool:
        return self.amount_minor < 0

    def percent(self, percent: int) -> Money:
        """`percent` of this amount, rounded half up to a whole minor unit.

        Half up, as everywhere in nobat: half of 1001 cents is 501, so the odd cent of a
        half refund goes to the patient. Never more than the whole for percent <= 100.
        """
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be between 0 and 100, not {percent}")
        return Money((self.amount_minor * percent + 50) // 100, self.currency)

    def __str__(self) -> str:
        """In major units, "12.34 USD", "-0.050 KWD", "150000 IRR"."""
        exponent = currency_of(self.currency).exponent
        sign = "-" if self.amount_minor < 0 else ""
        whole, part = divmod(abs(self.amount_minor), 10**exponent)
        fraction = f".{part:0{exponent}d}" if exponent else ""
        return f"{sign}{whole}{fraction} {self.currency}"


def parse_amount(
    amount_minor: object, currency: object, field: str = "amount", *, zero_allowed: bool = False
) -> Money:
    """An amount a caller sent: a currency of the table, an int, positive, and no more than
    the currency's sanity limit. `zero_allowed` leaves zero to the rule of the field that
    holds it (booking's "a doctor's fee is more than zero", said on the fee itself). Every
    bad part is named at once, under `field`, so one answer tells the caller all of it."""
    refused: list[InvalidArgument] = []
    known: Currency | None = None
    try:
        known = currency_of(currency, f"{field}.currency")  # type: ignore[arg-type]
    except UnknownCurrency as error:
        refused.append(error)
    amount_refused = _amount_refused(amount_minor, known, f"{field}.amount_minor", zero_allowed)
    if amount_refused is not None:
        refused.append(amount_refused)
    if refused or known is None:
        raise refused[0].naming([v for error in refused for v in error.violations])
    return Money(amount_minor, known.code)  # type: ignore[arg-type]  # an int: checked above


def _amount_refused(
    amount_minor: object, known: Currency | None, field: str, zero_allowed: bool
) -> InvalidArgument | None:
    if type(amount_minor) is not int:
        return MalformedField(field, "must be an integer count of minor units")
    if amount_minor < 0 or (amount_minor == 0 and not zero_allowed):
        return AmountNegative(field) if zero_allowed else AmountNotPositive(field)
    if known is not None and amount_minor > known.limit_minor:
        return AmountAboveLimit(Money(known.limit_minor, known.code), field)
    return None


def total(amounts: Iterable[Money], currency: str) -> Money:
    """The sum of `amounts`, all in `currency`; zero for none."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
