"""Exact fractions of money: rates, half-up rounding and splitting a sum into shares.

Rates are Fractions, parsed from decimal text ("2.9"), so 2.9% of 10 000 cents is exactly
290 and rounding happens once, where we say, by the rule we say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


def round_half_up(value: Fraction) -> int:
    """The nearest integer, halves going up: 12.5 → 13. Only for non-negative values,
    which is all money rounding ever sees here (fees and shares of positive amounts)."""
    if value < 0:
        raise ValueError(f"half-up rounding is defined here for non-negative values, not {value}")
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


@dataclass(frozen=True)
class Rate:
    """A share between 0 and 1, such as a 3% platform fee."""

    fraction: Fraction

    def __post_init__(self) -> None:
        if not isinstance(self.fraction, Fraction) or not 0 <= self.fraction <= 1:
            raise ValueError(f"a rate is a Fraction between 0 and 1, not {self.fraction!r}")

    @classmethod
    def percent(cls, value: str | int) -> Rate:
        """From a percentage written as text or an int: "2.9" or 3. Never a float, whose
        binary value of 2.9 is not 2.9."""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"a percentage is text or an int, not {value!r}")
        return cls(Fraction(value) / 100)

    def of(self, amount_minor: int) -> int:
        """This rate of a non-negative amount, rounded half up to a whole minor unit."""
        return round_half_up(self.fraction * amount_minor)


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Splits `amount` into shares proportional to `weights` that add up to it exactly.

    Largest remainder: each share is first rounded down, then the units left over go to
    the largest fractional parts (the earliest weight wins a tie, so the result is
    deterministic). When `amount` is at most the sum of the weights, no share exceeds its
    weight, which is what lets a refund be spread over what each payee line has left.
    """
    if amount < 0 or any(weight < 0 for weight in weights):
        raise ValueError("allocate splits a non-negative amount by non-negative weights")
    whole = sum(weights)
    if whole == 0:
        if amount:
            raise ValueError(f"cannot split {amount} by weights that are all zero")
        return [0 for _ in weights]
    shares = [amount * weight // whole for weight in weights]
    left = amount - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % whole), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares
