from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.errors import InvalidArgument
from services.booking.domain.money import Money


def test_half_of_an_odd_amount_rounds_half_up_to_the_patient():
    assert Money(1001, "USD").percent(50) == Money(501, "USD")
    assert Money(250_001, "IRR").percent(50) == Money(125_001, "IRR")
    assert Money(1001, "USD").percent(49) == Money(490, "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        (-1, "USD", "amount_minor"),
        (1.5, "USD", "amount_minor"),
        (True, "USD", "amount_minor"),
        (100, "usd", "currency"),
        (100, "US", "currency"),
        (100, "", "currency"),
    ],
)
def test_money_is_a_non_negative_integer_of_minor_units_in_an_iso_currency(amount, currency, field):
    with pytest.raises(InvalidArgument) as error:
        Money(amount, currency)

    assert error.value.violations[0][0] == field


@given(st.integers(0, 10**15), st.integers(0, 100), st.integers(0, 100))
def test_a_percentage_never_exceeds_the_whole_and_grows_with_the_percentage(amount, low, high):
    low, high = sorted((low, high))
    money = Money(amount, "KWD")

    assert money.percent(low).amount_minor <= money.percent(high).amount_minor
    assert money.percent(high).amount_minor <= amount
    assert money.percent(100) == money
    assert money.percent(0) == Money.zero("KWD")
