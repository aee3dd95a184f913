from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.errors import InvalidArgument
from services.payment.domain.currency import CURRENCIES, currency_of
from services.payment.domain.errors import (
    AmountAboveLimit,
    AmountNotPositive,
    AmountTooPrecise,
    CurrencyMismatch,
    MalformedField,
    UnknownCurrency,
)
from services.payment.domain.money import Money, parse_amount, total


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


def test_total_of_nothing_is_zero_in_the_currency() -> None:
    assert total([], "IRR") == Money(0, "IRR")


@given(st.lists(st.integers(-(10**12), 10**12), max_size=20))
def test_money_sums_exactly_like_integers(amounts: list[int]) -> None:
    assert total((Money(a, "KWD") for a in amounts), "KWD") == Money(sum(amounts), "KWD")
