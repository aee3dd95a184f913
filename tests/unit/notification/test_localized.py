"""Numbers, money, dates and direction, the way each locale's reader expects them."""

# Persian digits and separators are the point of these strings, not look-alikes of Latin.
# ruff: noqa: RUF001

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.notification.domain.contact import Locale
from services.notification.domain.localized import (
    LRI,
    PDI,
    RLI,
    Amount,
    as_written,
    date_time,
    jalali,
    money,
    number,
    persian_digits,
    right_to_left,
)

FA, EN = Locale.FA, Locale.EN
TEHRAN = ZoneInfo("Asia/Tehran")
YEN = Amount(1_500, "JPY")


def test_persian_digits_replace_every_ascii_digit():
    assert persian_digits("0123456789 a-1") == "۰۱۲۳۴۵۶۷۸۹ a-۱"


def test_numbers_are_grouped_by_thousands_with_each_locales_separator():
    assert number(1234567, EN) == "1,234,567"
    assert number(1234567, FA) == "۱\u066c۲۳۴\u066c۵۶۷"
    assert number(999, FA) == "۹۹۹"


@pytest.mark.parametrize(
    ("amount", "en", "fa"),
    [
        (Amount(5_000_000, "IRR"), "5,000,000 IRR", "۵\u066c۰۰۰\u066c۰۰۰ ریال"),
        (Amount(1_250_050, "USD"), "12,500.50 USD", "۱۲\u066c۵۰۰\u066b۵۰ دلار"),
        (Amount(7, "USD"), "0.07 USD", "۰\u066b۰۷ دلار"),
        (Amount(12_345, "KWD"), "12.345 KWD", "۱۲\u066b۳۴۵ دینار کویت"),
        (YEN, "1,500 JPY", f"۱\u066c۵۰۰ {LRI}JPY{PDI}"),
    ],
)
def test_money_has_its_currencys_decimals_and_name(amount, en, fa):
    assert money(amount, EN) == en
    assert money(amount, FA) == fa


@pytest.mark.parametrize(
    ("gregorian", "solar_hijri"),
    [
        (date(2024, 3, 20), (1403, 1, 1)),  # Nowruz 1403
        (date(2025, 3, 20), (1403, 12, 30)),  # the last day of a leap year
        (date(2025, 3, 21), (1404, 1, 1)),
        (date(1979, 2, 11), (1357, 11, 22)),
        (date(2026, 5, 3), (1405, 2, 13)),
        (date(2026, 9, 23), (1405, 7, 1)),  # the first month of thirty days
    ],
)
def test_gregorian_dates_become_solar_hijri(gregorian, solar_hijri):
    assert jalali(gregorian) == solar_hijri


def test_a_time_is_told_in_the_zone_with_persian_month_names_and_digits():
    instant = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
    assert date_time(instant, TEHRAN, EN) == "Sunday 3 May 2026, 09:30"
    assert date_time(instant, TEHRAN, FA) == "یکشنبه ۱۳ اردیبهشت ۱۴۰۵، ساعت ۰۹:۳۰"


def test_a_latin_name_inside_persian_text_keeps_left_to_right():
    assert as_written("Dr. Rostami", FA) == f"{LRI}Dr. Rostami{PDI}"
    assert as_written("دکتر رستمی", FA) == "دکتر رستمی"
    assert as_written("Dr. Rostami", EN) == "Dr. Rostami"
    assert RLI not in as_written("Dr. Rostami", FA)


def test_persian_text_is_isolated_so_its_direction_never_leaks_past_it():
    """Embeddings (U+202A-C) stay open across what follows when a reader's software drops
    the closing pop; isolates end at the paragraph and do not reorder their neighbours."""
    for wrapped in (right_to_left("سلام"), as_written("Dr. Rostami", FA), money(YEN, FA)):
        assert not {"\u202a", "\u202b", "\u202c"} & set(wrapped)
        assert wrapped.count(PDI) == wrapped.count(LRI) + wrapped.count(RLI) == 1


def test_a_stored_name_cannot_reorder_the_sentence_it_is_quoted_in():
    """A doctor's name saved before the services refused bidi controls (runtime.text) is
    quoted without them: it can neither close its isolate early nor override the rest."""
    stored = "Dr. \u202eimalhA\u2069\u202b"
    assert as_written(stored, FA) == f"{LRI}Dr. imalhA{PDI}"
    assert as_written(stored, EN) == "Dr. imalhA"
