"""Prices as consultation holds them: a positive count of one currency's minor unit.

Consultation sells nothing for free (a record exists only for a confirmed payment) and
never does arithmetic on money; payment owns the ledger. So a price is only ever
compared, stored and passed on.
"""

from __future__ import annotations

from dataclasses import dataclass


def currency_problem(code: str) -> str | None:
    if len(code) == 3 and code.isascii() and code.isalpha() and code.isupper():
        return None
    return "must be an ISO 4217 code in upper case, like IRR"


def amount_problem(amount_minor: object) -> str | None:
    if type(amount_minor) is not int or amount_minor <= 0:
        return "must be a whole number of minor units, more than zero"
    return None


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        # Input is checked with field names where it arrives (see offers.price_list);
        # a bad Money here is a bug.
        problem = amount_problem(self.amount_minor) or currency_problem(self.currency)
        if problem is not None:
            raise ValueError(f"{self!r}: {problem}")
