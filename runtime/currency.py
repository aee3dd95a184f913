"""The currencies nobat takes, with the exponent that relates their minor and major units.

One table for every context, so a price booking or consultation accepts is one payment
can charge. Amounts travel as integer minor units; the exponent is needed only where a
human or a configuration speaks in major units ("0.30 USD", "12.345 KWD") and for sanity
limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from runtime.errors import UnknownCurrency


@dataclass(frozen=True)
class Currency:
    code: str
    # Minor units per major unit are 10 ** exponent: 2 for cents, 3 for fils, 0 for none.
    exponent: int
    # The largest single payment accepted, in major units: a typo guard, not a business
    # rule, so each is roughly a million US dollars' worth and rounded generously.
    limit_major: int

    @property
    def minor_per_major(self) -> int:
        return 10**self.exponent

    @property
    def limit_minor(self) -> int:
        return self.limit_major * self.minor_per_major


CURRENCIES = MappingProxyType(
    {
        currency.code: currency
        for currency in (
            # ISO 4217 gives the rial two decimals, but no subunit has circulated for decades
            # and every Iranian gateway and bank counts whole rials: exponent 0 in practice.
            Currency("IRR", 0, 1_000_000_000_000),
            Currency("INR", 2, 100_000_000),
            Currency("USD", 2, 1_000_000),
            Currency("EUR", 2, 1_000_000),
            Currency("GBP", 2, 1_000_000),
            Currency("CHF", 2, 1_000_000),
            Currency("CAD", 2, 1_000_000),
            Currency("AUD", 2, 1_000_000),
            Currency("AED", 2, 5_000_000),
            Currency("SAR", 2, 5_000_000),
            Currency("TRY", 2, 50_000_000),
            Currency("JPY", 0, 200_000_000),
            Currency("KWD", 3, 300_000),
            Currency("BHD", 3, 400_000),
            Currency("OMR", 3, 400_000),
        )
    }
)


def currency_of(code: str, field: str = "currency") -> Currency:
    """The currency for an ISO 4217 code in upper case; anything else is UnknownCurrency."""
    try:
        return CURRENCIES[code]
    except (KeyError, TypeError):
        raise UnknownCurrency(str(code), field) from None
