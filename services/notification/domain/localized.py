"""Numbers, money, dates and direction as a reader of each locale expects them.

Persian text is written right to left with Persian digits, the Arabic thousands and decimal
separators (U+066C, U+066B) and the Solar Hijri calendar that Iran lives by. A notification
body is shown by apps, mail readers and SMS handsets that do not all know its language, so
Persian text carries its own direction: the whole is wrapped in RIGHT-TO-LEFT ISOLATE …
POP DIRECTIONAL ISOLATE, and a Latin run inside it (a doctor's name in Latin letters, a
currency code) in LEFT-TO-RIGHT ISOLATE … PDI. Isolates, not embeddings: an isolate's
content and its surroundings do not reorder each other, and an isolate a reader's software
does not close is closed at the end of the paragraph, so a title never leaks its direction
into whatever an app shows after it. English is left as it is.

A quoted value (a doctor's name) is written with its own bidirectional formatting
characters removed: the services refuse them in new text (runtime.text), and a name stored
before they did must not close the isolate it sits in or reorder the sentence around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from services.notification.domain.contact import Locale

RLI = "\u2067"
LRI = "\u2066"
PDI = "\u2069"
# Embeddings, overrides and isolates, and the pops that end them.
_BIDI_CONTROLS = str.maketrans(
    dict.fromkeys(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
)

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_PERSIAN_THOUSANDS = "\u066c"
_PERSIAN_DECIMAL = "\u066b"

# Minor units per major unit are 10 ** exponent (ISO 4217), for the currencies whose
# exponent is not 2. The rial is counted in whole rials in practice (as payment does).
_EXPONENTS = MappingProxyType(
    {
        **dict.fromkeys(("IRR", "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"), 0),
        **dict.fromkeys(("KWD", "BHD", "OMR", "JOD", "IQD", "LYD", "TND"), 3),
    }
)
_CURRENCY_NAMES_FA = MappingProxyType(
    {
        "IRR": "ریال",
        "USD": "دلار",
        "EUR": "یورو",
        "GBP": "پوند",
        "AED": "درهم",
        "TRY": "لیر",
        "KWD": "دینار کویت",
    }
)

_PERSIAN_MONTHS = (
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
)
# By Python's weekday(): Monday first.
_PERSIAN_WEEKDAYS = ("دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه", "شنبه", "یکشنبه")


@dataclass(frozen=True)
class Amount:
    """An amount of money as the facts carry it: minor units of an ISO 4217 currency."""

    amount_minor: int
    currency: str


def exponent_of(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def persian_digits(text: str) -> str:
    return text.translate(_PERSIAN_DIGITS)


def number(value: int, locale: Locale) -> str:
    """A whole number with thousands grouped: 1,234,567, in Persian digits for fa."""
    grouped = f"{value:,}"
    if locale is Locale.FA:
        return persian_digits(grouped.replace(",", _PERSIAN_THOUSANDS))
    return grouped


def money(amount: Amount, locale: Locale) -> str:
    """12,500.50 USD, or the same in Persian digits and separators followed by دلار: the
    currency's own number of decimals."""
    exponent = exponent_of(amount.currency)
    whole, minor = divmod(abs(amount.amount_minor), 10**exponent)
    sign = "-" if amount.amount_minor < 0 else ""
    text = number(whole, locale)
    if exponent:
        decimals = f"{minor:0{exponent}d}"
        if locale is Locale.FA:
            text += _PERSIAN_DECIMAL + persian_digits(decimals)
        else:
            text += "." + decimals
    if locale is Locale.FA:
        name = _CURRENCY_NAMES_FA.get(amount.currency)
        return f"{sign}{text} {name or left_to_right(amount.currency)}"
    return f"{sign}{text} {amount.currency}"


def jalali(day: date) -> tuple[int, int, int]:
    """The Solar Hijri (Jalali) year, month and day of a Gregorian date.

    The arithmetic form of the calendar (a 2820-year cycle) that Iranian software uses;
    it agrees with the astronomical calendar for every year from 1178 to 1633 AP.
    """
    days_before_month = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
    year = day.year + 1 if day.month > 2 else day.year
    days = (
        355666
        + 365 * day.year
        + (year + 3) // 4
        - (year + 99) // 100
        + (year + 399) // 400
        + day.day
        + days_before_month[day.month - 1]
    )
    jy = -1595 + 33 * (days // 12053)
    days %= 12053
    jy += 4 * (days // 1461)
    days %= 1461
    if days > 365:
        jy += (days - 1) // 365
        days = (days - 1) % 365
    if days < 186:
        return jy, 1 + days // 31, 1 + days % 31
    return jy, 7 + (days - 186) // 30, 1 + (days - 186) % 30


def date_time(instant: datetime, zone: ZoneInfo, locale: Locale) -> str:
    """Wall time in `zone`: Sunday 3 May 2026, 10:30, or for fa the weekday, the Solar Hijri
    day, month name and year, and the time, in Persian digits."""
    local = instant.astimezone(zone)
    if locale is Locale.FA:
        year, month, day = jalali(local.date())
        weekday = _PERSIAN_WEEKDAYS[local.weekday()]
        clock = persian_digits(f"{local:%H:%M}")
        on = persian_digits(f"{day} ") + _PERSIAN_MONTHS[month - 1] + persian_digits(f" {year}")
        return f"{weekday} {on}، ساعت {clock}"
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M}"


def has_persian(text: str) -> bool:
    return any("\u0600" <= char <= "\u06ff" for char in text)


def right_to_left(text: str) -> str:
    return f"{RLI}{text}{PDI}"


def left_to_right(text: str) -> str:
    return f"{LRI}{text}{PDI}"


def as_written(text: str, locale: Locale) -> str:
    """A name or code quoted verbatim, less any bidirectional formatting of its own:
    isolated left to right inside Persian text unless it is Persian itself."""
    text = text.translate(_BIDI_CONTROLS)
    if locale is Locale.FA and text and not has_persian(text):
        return left_to_right(text)
    return text
