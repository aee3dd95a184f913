"""The one Money every context holds, the currency table and `parse_amount`, the one way
an amount comes in from a caller."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.currency import CURRENCIES, currency_of
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
from runtime.money import Money, parse_amount, total


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("IRR", 0), ("INR", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("KWD", 3), ("JPY", 0)],
)
def test_the_currency_table_knows_each_currencys_exponent(code: str, exponent: int) -> None:
    assert currency_of(code).exponent == exponent


@pytest.mark.parametrize("code", ["usd", "XXX", "", "US", None, 840])
def test_a_code_that_is_not_a_known_upper_case_currency_is_refused(code: object) -> None:
    with pytest.raises(UnknownCurrency) as refused:
        currency_of(code)  # type: ignore[arg-type]
    assert isinstance(refused.value, InvalidArgument)


def test_money_in_an_unknown_currency_cannot_exist() -> None:
    with pytest.raises(UnknownCurrency):
        Money(100, "ABC")


@pytest.mark.parametrize("amount", [1.5, 100.0, "100", True, None])
def test_money_is_an_integer_of_minor_units_never_a_float(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "USD")  # type: ignore[arg-type]


def test_money_beyond_64_bits_cannot_exist() -> None:
    with pytest.raises(OverflowError):
        Money(2**63, "USD")


def test_money_adds_and_subtracts_within_one_currency() -> None:
    assert Money(150, "USD") + Money(50, "USD") == Money(200, "USD")
    assert Money(150, "USD") - Money(200, "USD") == Money(-50, "USD")
    assert -Money(5, "KWD") == Money(-5, "KWD")


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_money_in_two_currencies_never_mixes(combine) -> None:
    with pytest.raises(CurrencyMismatch):
        combine(Money(100, "USD"), Money(100, "EUR"))


def test_equal_amounts_in_two_currencies_are_not_equal_money() -> None:
    assert Money(100, "USD") != Money(100, "EUR")


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1234, "USD"), "12.34 USD"),
        (Money(5, "USD"), "0.05 USD"),
        (Money(-50, "KWD"), "-0.050 KWD"),
        (Money(150_000, "IRR"), "150000 IRR"),
        (Money(1000, "JPY"), "1000 JPY"),
    ],
)
def test_money_reads_in_major_units(money: Money, text: str) -> None:
    assert str(money) == text


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.34", "USD", 1234), ("0.30", "USD", 30), ("1.5", "KWD", 1500), ("150000", "IRR", 150_000)],
)
def test_major_units_written_as_text_become_exact_minor_units(
    text: str, currency: str, minor: int
) -> None:
    assert Money.from_major(text, currency) == Money(minor, currency)


def test_more_decimals_than_the_currency_has_are_refused_not_rounded() -> None:
    with pytest.raises(AmountTooPrecise):
        Money.from_major("12.345", "USD")
    with pytest.raises(AmountTooPrecise):
        Money.from_major("0.5", "IRR")


@pytest.mark.parametrize("text", ["twelve", "", "NaN", "Infinity"])
def test_text_that_is_no_number_is_refused(text: str) -> None:
    with pytest.raises(MalformedField):
        Money.from_major(text, "USD")


def test_a_requested_amount_is_positive_known_and_within_the_currencys_limit() -> None:
    assert parse_amount(100, "USD") == Money(100, "USD")
    assert parse_amount(CURRENCIES["USD"].limit_minor, "USD").amount_minor == 100_000_000


@pytest.mark.parametrize(
    ("amount", "currency", "error", "field"),
    [
        (0, "USD", AmountNotPositive, "amount.amount_minor"),
        (-100, "USD", AmountNotPositive, "amount.amount_minor"),
        (100_000_001, "USD", AmountAboveLimit, "amount.amount_minor"),
        (10**13, "IRR", AmountAboveLimit, "amount.amount_minor"),
        (100, "usd", UnknownCurrency, "amount.currency"),
        (1.5, "USD", MalformedField, "amount.amount_minor"),
        ("100", "USD", MalformedField, "amount.amount_minor"),
    ],
)
def test_a_requested_amount_that_breaks_a_rule_names_the_field(
    amount: object, currency: str, error: type[InvalidArgument], field: str
) -> None:
    with pytest.raises(error) as refused:
        parse_amount(amount, currency)
    assert refused.value.violations[0][0] == field


def test_zero_may_be_left_to_the_fields_own_rule_but_never_a_negative_amount() -> None:
    assert parse_amount(0, "IRR", "fee", zero_allowed=True) == Money(0, "IRR")
    with pytest.raises(AmountNegative) as refused:
        parse_amount(-1, "IRR", "fee", zero_allowed=True)
    assert refused.value.violations == [("fee.amount_minor", "must not be negative")]


def test_every_bad_part_of_an_amount_is_named_in_one_answer() -> None:
    with pytest.raises(UnknownCurrency) as refused:
        parse_amount(-1, "I", "price")
    assert [field for field, _ in refused.value.violations] == [
        "price.currency",
        "price.amount_minor",
    ]
    assert refused.value.metadata == {"field": "price.currency"}


@given(st.sampled_from(sorted(CURRENCIES)), st.data())
def test_an_amount_parses_exactly_up_to_its_currencys_limit_and_never_beyond(code, data) -> None:
    limit = CURRENCIES[code].limit_minor
    amount = data.draw(st.integers(1, limit))
    assert parse_amount(amount, code) == Money(amount, code)
    beyond = data.draw(st.integers(limit + 1, 2**63 - 1))
    with pytest.raises(AmountAboveLimit):
        parse_amount(beyond, code)


def test_half_of_an_odd_amount_rounds_half_up_to_the_patient() -> None:
    assert Money(1001, "USD").percent(50) == Money(501, "USD")
    assert Money(250_001, "IRR").percent(50) == Money(125_001, "IRR")
    assert Money(1001, "USD").percent(49) == Money(490, "USD")


@pytest.mark.parametrize("percent", [-1, 101])
def test_a_percentage_is_between_none_and_all(percent: int) -> None:
    with pytest.raises(ValueError):
        Money(1000, "USD").percent(percent)


@given(st.integers(0, 10**15), st.integers(0, 100), st.integers(0, 100))
def test_a_percentage_never_exceeds_the_whole_and_grows_with_the_percentage(
    amount: int, low: int, high: int
) -> None:
    low, high = sorted((low, high))
    money = Money(amount, "KWD")

    assert money.percent(low).amount_minor <= money.percent(high).amount_minor
    assert money.percent(high).amount_minor <= amount
    assert money.percent(100) == money
    assert money.percent(0) == Money.zero("KWD")


def test_total_of_nothing_is_zero_in_the_currency() -> None:
    assert total([], "IRR") == Money(0, "IRR")


@given(st.lists(st.integers(-(10**12), 10**12), max_size=20))
def test_money_sums_exactly_like_integers(amounts: list[int]) -> None:
    assert total((Money(a, "KWD") for a in amounts), "KWD") == Money(sum(amounts), "KWD")
