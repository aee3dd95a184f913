"""What Stripe takes: its presentment currencies and, per currency, the amounts it charges.

From Stripe's "Supported currencies" page (docs.stripe.com/currencies): the currencies a
card payment can be made in, the zero-decimal ones (amounts in whole units), the
three-decimal ones (amounts whose last digit must be 0, as Stripe's partners settle
them only to two decimals), the minimum charge per currency and the one maximum of
eight digits. The sandbox refuses what Stripe refuses, so an integration that passes
here is not refused when pointed at Stripe.
"""

from __future__ import annotations

from sandbox.errors import StripeError, invalid_param

SUPPORTED = frozenset(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd
    bwp byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp
    gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw
    kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad
    ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek
    sgd shp sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst
    xaf xcd xof xpf yer zar zmw
    """.split()  # noqa: SIM905 - a table to read against Stripe's page, not a list to edit
)
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()  # noqa: SIM905
)
THREE_DECIMAL = frozenset(("bhd", "jod", "kwd", "omr", "tnd"))

# Stripe's table of minimum charge amounts, in minor units. Elsewhere Stripe checks that
# the amount converts to at least 0.50 USD in the account's currency; the sandbox has no
# exchange rates, so there it asks only for an amount above zero (README, "Sandbox and
# Stripe").
MINIMUM = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
# "The amount value supports up to eight digits", in every currency.
MAXIMUM = 99_999_999


def exponent(currency: str) -> int:
    """Digits after the decimal point in the currency's major unit."""
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def check_currency(currency: str, param: str) -> None:
    if currency not in SUPPORTED:
        raise invalid_param(
            param,
            f"Invalid currency: {currency}. Stripe currently supports these currencies: "
            + ", ".join(sorted(SUPPORTED)),
        )


def check_amount(currency: str, amount: int, param: str) -> None:
    """A total Stripe would charge in `currency`, or the error it answers."""
    least = MINIMUM.get(currency, 1)
    if amount < least:
        raise StripeError(
            400,
            f"The Checkout Session's total amount due must add up to at least "
            f"{_major(least, currency)} {currency}",
            code="amount_too_small",
            param=param,
            executed=False,
        )
    if amount > MAXIMUM:
        raise StripeError(
            400,
            f"The Checkout Session's total amount due must be no more than "
            f"{_major(MAXIMUM, currency)} {currency}",
            code="amount_too_large",
            param=param,
            executed=False,
        )
    if currency in THREE_DECIMAL and amount % 10:
        raise StripeError(
            400,
            f"Invalid amount for {currency}: amounts in three-decimal currencies must be "
            "rounded to the nearest ten (their last digit must be 0).",
            code="invalid_charge_amount",
            param=param,
            executed=False,
        )


def _major(amount: int, currency: str) -> str:
    digits = exponent(currency)
    whole, part = divmod(amount, 10**digits)
    return f"{whole}.{part:0{digits}d}" if digits else str(whole)
