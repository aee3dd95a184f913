from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.currency import CURRENCIES
from runtime.money import Money
from services.payment.domain.fees import (
    NO_GATEWAY_FEES,
    STRIPE_LIKE_FEES,
    FeeSplit,
    GatewayFees,
    split_line,
    split_lines,
)
from services.payment.domain.rounding import Rate, allocate, round_half_up

PLATFORM_FEE = Rate.percent(3)


@pytest.mark.parametrize(
    ("value", "rounded"),
    [(Fraction(25, 2), 13), (Fraction(249, 20), 12), (Fraction(251, 20), 13), (Fraction(0), 0)],
)
def test_rounding_takes_halves_up(value: Fraction, rounded: int) -> None:
    assert round_half_up(value) == rounded


def test_rates_are_read_from_text_exactly_and_never_from_floats() -> None:
    assert Rate.percent("2.9").fraction == Fraction(29, 1000)
    with pytest.raises(TypeError):
        Rate.percent(2.9)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Rate.percent(101)


def test_the_default_gateway_fee_is_2_9_percent_plus_30_cents() -> None:
    assert STRIPE_LIKE_FEES.fee_for(Money(10_000, "USD")) == Money(320, "USD")
    # 2.9% of 1.50 is 4.35 cents, rounded half up to 4.
    assert STRIPE_LIKE_FEES.fee_for(Money(150, "USD")) == Money(34, "USD")


@pytest.mark.parametrize(
    ("captured", "fee"),
    [
        (Money(10_000, "KWD"), Money(590, "KWD")),  # 290 fils + 0.300 KWD
        (Money(10_000, "JPY"), Money(290, "JPY")),  # 0.30 yen is no coin: nothing fixed
        (Money(1_000_000, "IRR"), Money(29_000, "IRR")),
    ],
)
def test_the_fixed_fee_is_in_the_captures_major_units(captured: Money, fee: Money) -> None:
    assert STRIPE_LIKE_FEES.fee_for(captured) == fee


def test_a_gateway_can_price_the_fixed_fee_per_currency_in_minor_units() -> None:
    fees = GatewayFees(Rate.percent("1.5"), Decimal("0.25"), {"JPY": 40})
    assert fees.fee_for(Money(10_000, "JPY")) == Money(190, "JPY")
    assert fees.fee_for(Money(10_000, "USD")) == Money(175, "USD")


def test_a_gateway_never_keeps_more_than_it_captured() -> None:
    assert STRIPE_LIKE_FEES.fee_for(Money(10, "USD")) == Money(10, "USD")


def test_wallet_payments_cost_no_gateway_fee() -> None:
    assert NO_GATEWAY_FEES.fee_for(Money(10_000, "USD")).is_zero


def test_a_line_splits_into_platform_fee_gateway_fee_and_net() -> None:
    split = split_line(Money(10_000, "USD"), PLATFORM_FEE, Money(320, "USD"))
    assert split == FeeSplit(
        Money(10_000, "USD"), Money(300, "USD"), Money(320, "USD"), Money(9_380, "USD")
    )


def test_on_a_tiny_line_the_fees_stop_at_the_gross_and_the_net_is_never_negative() -> None:
    split = split_line(Money(31, "USD"), PLATFORM_FEE, Money(45, "USD"))
    assert (split.gateway_fee, split.platform_fee, split.net) == (
        Money(31, "USD"),
        Money(0, "USD"),
        Money(0, "USD"),
    )


def test_two_doctors_share_one_gateway_fee_in_proportion_to_their_lines() -> None:
    splits = split_lines(
        [Money(7_000, "USD"), Money(3_000, "USD")], PLATFORM_FEE, Money(320, "USD")
    )
    assert [s.gateway_fee.amount_minor for s in splits] == [224, 96]
    assert [s.platform_fee.amount_minor for s in splits] == [210, 90]


def test_a_fee_split_whose_parts_do_not_add_up_cannot_exist() -> None:
    with pytest.raises(ValueError):
        FeeSplit(Money(100, "USD"), Money(3, "USD"), Money(3, "USD"), Money(95, "USD"))


def test_shares_go_by_largest_remainder_and_ties_to_the_first() -> None:
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert allocate(7, [2, 5]) == [2, 5]
    assert allocate(0, [0, 0]) == [0, 0]
    with pytest.raises(ValueError):
        allocate(5, [0, 0])


currencies = st.sampled_from(sorted(CURRENCIES))
percents = st.integers(0, 1000).map(lambda tenths: Rate(Fraction(tenths, 1000)))


@settings(max_examples=150, deadline=None)
@given(
    currency=currencies,
    lines=st.lists(st.integers(1, 10**9), min_size=1, max_size=8),
    platform=percents,
    gateway_rate=percents,
    fixed=st.integers(0, 500).map(lambda cents: Decimal(cents) / 100),
)
def test_fee_parts_always_add_up_to_the_gross(
    currency: str, lines: list[int], platform: Rate, gateway_rate: Rate, fixed: Decimal
) -> None:
    amounts = [Money(line, currency) for line in lines]
    captured = Money(sum(lines), currency)
    gateway_fee = GatewayFees(gateway_rate, fixed).fee_for(captured)
    splits = split_lines(amounts, platform, gateway_fee)
    for amount, split in zip(amounts, splits, strict=True):
        assert split.gross == amount
        assert split.platform_fee + split.gateway_fee + split.net == amount
        assert not any(
            part.is_negative for part in (split.platform_fee, split.gateway_fee, split.net)
        )
    assert sum(s.gateway_fee.amount_minor for s in splits) == gateway_fee.amount_minor


@given(
    amount=st.integers(0, 10**6),
    weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=10).filter(any),
)
def test_allocated_shares_add_up_exactly_and_never_exceed_their_weight(
    amount: int, weights: list[int]
) -> None:
    amount = min(amount, sum(weights))
    shares = allocate(amount, weights)
    assert sum(shares) == amount
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))
