"""Money as booking needs it: prices and refunds in minor units of one ISO 4217 currency."""

from __future__ import annotations

import re
from dataclasses import dataclass

from runtime.errors import InvalidArgument

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Money:
    """A non-negative count of the currency's minor unit (cents for USD, rials for IRR).

    Booking only ever holds prices and refunds, so a negative amount is a bug or bad input.
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not _CURRENCY_CODE.fullmatch(self.currency):
            raise InvalidArgument("currency", "must be an ISO 4217 code in upper case, like USD")
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise InvalidArgument("amount_minor", "must be an integer count of minor units")
        if self.amount_minor < 0:
            raise InvalidArgument("amount_minor", "must not be negative")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def percent(self, percent: int) -> Money:
        """`percent` of this amount, rounded half up to a whole minor unit.

        Half up, as everywhere in nobat: half of 1001 cents is 501, so the odd cent of a
        half refund goes to the patient. Never more than the whole for percent <= 100.
        """
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be between 0 and 100, not {percent}")
        return Money((self.amount_minor * percent + 50) // 100, self.currency)
