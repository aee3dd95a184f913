"""What the gateway and the platform keep of a payment, and what is left for each payee.

The gateway's fee is charged once per capture (a rate plus a fixed amount, per gateway);
each payee line carries a share of it in proportion to its gross, so a payment with two
doctors is not charged the fixed part twice. Each line's platform fee is rounded half up
on its own; the net is what remains, so gross = platform fee + gateway fee + net exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from runtime.currency import currency_of
from runtime.money import Money
from services.payment.domain.rounding import Rate, allocate, round_half_up


@dataclass(frozen=True)
class GatewayFees:
    """One gateway's price list: `rate` of each capture plus `fixed`, in the capture's
    major units (0.30 is 30 cents, 300 fils, and nothing in yen or rials, which have no
    such small coin); `fixed_minor` overrides that conversion per currency, in minor units,
    as gateways' own price lists do."""

    rate: Rate
    fixed: Decimal = Decimal(0)
    fixed_minor: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not isinstance(self.fixed, Decimal) or not self.fixed.is_finite() or self.fixed < 0:
            raise ValueError(f"a fixed gateway fee is a non-negative Decimal, not {self.fixed!r}")
        if any(type(v) is not int or v < 0 for v in self.fixed_minor.values()):
            raise ValueError("fixed fee overrides are non-negative ints of minor units")

    def fixed_for(self, currency: str) -> int:
        if currency in self.fixed_minor:
            return self.fixed_minor[currency]
        return round_half_up(Fraction(self.fixed) * currency_of(currency).minor_per_major)

    def fee_for(self, captured: Money) -> Money:
        """The gateway's fee for one capture, never more than the capture itself."""
        fee = self.rate.of(captured.amount_minor) + self.fixed_for(captured.currency)
        return Money(min(fee, captured.amount_minor), captured.currency)


# Stripe's standard card price, which the sandbox gateway imitates.
STRIPE_LIKE_FEES = GatewayFees(Rate.percent("2.9"), Decimal("0.30"))
NO_GATEWAY_FEES = GatewayFees(Rate.percent(0))


@dataclass(frozen=True)
class FeeSplit:
    """One payee line's money: gross = platform_fee + gateway_fee + net, none negative."""

    gross: Money
    platform_fee: Money
    gateway_fee: Money
    net: Money

    def __post_init__(self) -> None:
        parts = (self.platform_fee, self.gateway_fee, self.net)
        if (
            any(part.is_negative for part in parts)
            or sum((part for part in parts), Money.zero(self.gross.currency)) != self.gross
        ):
            raise ValueError(f"fee parts must be non-negative and add up to the gross: {self}")

    @classmethod
    def nothing(cls, currency: str) -> FeeSplit:
        zero = Money.zero(currency)
        return cls(zero, zero, zero, zero)


def split_line(gross: Money, platform_fee: Rate, gateway_fee: Money) -> FeeSplit:
    """A line's split, given its share of the gateway fee. On a tiny line whose fees would
    exceed it, the gateway's share is taken first (it is a cost already paid), then the
    platform's, and the net is never negative."""
    gateway = min(gateway_fee.amount_minor, gross.amount_minor)
    platform = min(platform_fee.of(gross.amount_minor), gross.amount_minor - gateway)
    currency = gross.currency
    return FeeSplit(
        gross,
        Money(platform, currency),
        Money(gateway, currency),
        Money(gross.amount_minor - platform - gateway, currency),
    )


def split_lines(lines: Sequence[Money], platform_fee: Rate, gateway_fee: Money) -> list[FeeSplit]:
    """The split of every payee line of one capture; the lines' gateway shares add up to
    `gateway_fee` exactly (largest remainder, in proportion to their gross)."""
    shares = allocate(gateway_fee.amount_minor, [line.amount_minor for line in lines])
    return [
        split_line(line, platform_fee, Money(share, line.currency))
        for line, share in zip(lines, shares, strict=True)
    ]
