from __future__ import annotations

import pytest

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.consultation.domain.errors import UnknownConsultationType
from services.consultation.domain.offers import ConsultationType, Offer, price_list
from tests.unit.consultation.builders import CHAT, EMERGENCY, PRICES, VIDEO


def test_a_price_list_is_built_from_admin_entries():
    prices = price_list([("video", 700_000, "IRR"), ("chat", 300_000, "IRR")])

    assert prices.get(VIDEO) == Money(700_000, "IRR")
    assert prices.get(CHAT) == Money(300_000, "IRR")
    assert prices.get(EMERGENCY) is None


def test_an_empty_list_prices_nothing():
    assert price_list([]).offers(ConsultationType) == ()


def test_every_bad_entry_is_refused_by_field_at_once():
    with pytest.raises(InvalidArgument) as raised:
        price_list(
            [
                ("chat", 300_000, "IRR"),
                ("chat", 400_000, "IRR"),
                ("phone", 1, "IRR"),
                ("video", 0, "irr"),
                ("emergency", 1.5, "IRR"),
            ]
        )

    assert [field for field, _ in raised.value.violations] == [
        "prices[1].type",
        "prices[2].type",
        "prices[3].price.currency",
        "prices[3].price.amount_minor",
        "prices[4].price.amount_minor",
    ]


def test_offers_follow_the_order_of_types_and_skip_unpriced_ones():
    partial = price_list([("emergency", 2, "IRR"), ("chat", 1, "IRR")])

    assert partial.offers([EMERGENCY, VIDEO, CHAT]) == (
        Offer(CHAT, Money(1, "IRR")),
        Offer(EMERGENCY, Money(2, "IRR")),
    )
    assert PRICES.offers([]) == ()


def test_a_type_is_named_or_refused_with_its_field():
    assert ConsultationType.named("video") is VIDEO
    with pytest.raises(UnknownConsultationType) as raised:
        ConsultationType.named("", "type")
    assert raised.value.violations[0][0] == "type"
