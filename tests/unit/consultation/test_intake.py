from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.consultation.domain.errors import UnknownSymptom
from services.consultation.domain.intake import open_intake
from services.consultation.domain.offers import Offer, PriceList
from services.consultation.domain.triage import ReportedSymptom, Urgency
from tests.unit.consultation.builders import (
    CHAT,
    EMERGENCY,
    NOW,
    PRICES,
    RULES,
    VIDEO,
    an_intake,
    symptoms,
)


def intake_with(**overrides):
    fields: dict = {
        "intake_id": "intake-1",
        "patient_id": "patient-1",
        "complaint": "Burning when I pee.",
        "symptoms": symptoms("painful_urination"),
        "age_years": 30,
        "sex": None,
        "triage": RULES,
        "prices": PRICES,
        "now": NOW,
    }
    fields.update(overrides)
    return open_intake(**fields)


def violations(**overrides) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as raised:
        intake_with(**overrides)
    return raised.value.violations


def test_an_intake_carries_its_triage_and_offers_at_the_default_prices():
    intake = an_intake()

    assert intake.triage.urgency is Urgency.SOON
    assert intake.triage.likely_conditions[0].code == "strep_throat"
    assert intake.offers == (
        Offer(CHAT, Money(500_000, "IRR")),
        Offer(VIDEO, Money(900_000, "IRR")),
        Offer(EMERGENCY, Money(1_500_000, "IRR")),
    )
    assert (intake.created_at, intake.expires_at) == (NOW, NOW + timedelta(hours=2))


def test_a_type_without_a_default_price_is_not_offered():
    intake = an_intake(prices=PriceList({VIDEO: Money(900_000, "IRR")}))

    assert [offer.type for offer in intake.offers] == [VIDEO]


def test_only_the_types_the_triage_allows_are_offered():
    intake = an_intake(symptoms("chest_pain"))

    assert [offer.type for offer in intake.offers] == [VIDEO, EMERGENCY]


def test_an_intake_whose_only_sensible_care_is_an_emergency_visit_offers_nothing():
    intake = an_intake(symptoms("chest_pain", "shortness_of_breath"))

    assert intake.triage.emergency_care_advised
    assert intake.triage.red_flags
    assert intake.offers == ()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"complaint": ""}, "complaint"),
        ({"complaint": " \n\t"}, "complaint"),
        ({"complaint": "x" * 2001}, "complaint"),
        ({"age_years": -1}, "age_years"),
        ({"age_years": 131}, "age_years"),
        ({"symptoms": symptoms("fever", "fever")}, "symptoms[1].code"),
        ({"symptoms": symptoms("")}, "symptoms[0].code"),
        (
            {"symptoms": [ReportedSymptom("fever", days_since_onset=-2)]},
            "symptoms[0].days_since_onset",
        ),
        ({"symptoms": symptoms(*["fever"] * 31)}, "symptoms"),
    ],
)
def test_bad_input_is_refused_naming_the_field(overrides, field):
    assert [name for name, _ in violations(**overrides)] == [field]


def test_the_limits_themselves_are_accepted():
    assert intake_with(complaint="x" * 2000, age_years=130).age_years == 130
    assert intake_with(age_years=0).age_years == 0


def test_every_bad_field_is_reported_at_once():
    found = violations(complaint="", age_years=200, symptoms=symptoms("fever", "fever"))

    assert [name for name, _ in found] == ["complaint", "age_years", "symptoms[1].code"]


def test_unknown_symptom_codes_are_refused_by_field():
    with pytest.raises(UnknownSymptom) as raised:
        intake_with(symptoms=symptoms("fever", "feverish"))

    assert raised.value.violations[0][0] == "symptoms[1].code"
