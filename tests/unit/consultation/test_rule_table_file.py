"""The rule table file is checked whole at start-up: a bad table never serves a triage."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from services.consultation.domain.rule_table import (
    RULES_PATH,
    RuleTable,
    RuleTableError,
    load_rule_table,
)


def shipped() -> dict:
    with RULES_PATH.open("rb") as file:
        return tomllib.load(file)


def broken(change) -> dict:
    data = copy.deepcopy(shipped())
    change(data)
    return data


def test_a_minimal_table_is_enough():
    table = RuleTable.from_mapping(
        {
            "version": "t1",
            "max_conditions": 3,
            "offers": {"routine": ["chat"], "soon": [], "urgent": [], "emergency": []},
            "conditions": {"cold": {"name": "Cold"}},
            "symptoms": {
                "sneeze": {"name": "Sneeze", "urgency": "routine", "conditions": {"cold": 5}}
            },
        }
    )

    assert table.symptom_codes == {"sneeze"}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(max_conditions=0), "max_conditions"),
        (lambda d: d["offers"].update(emergency=["emergency"]), "offers.emergency: must be empty"),
        (lambda d: d["offers"].update(soon=["phone"]), "offers.soon"),
        (lambda d: d["offers"].pop("urgent"), "offers.urgent"),
        (lambda d: d["conditions"]["uti"].pop("name"), "conditions.uti.name"),
        (lambda d: d["conditions"]["uti"].update(sexes=["x"]), "conditions.uti.sexes"),
        (lambda d: d["conditions"]["uti"].update(min_age=40, max_age=20), "conditions.uti"),
        (lambda d: d["symptoms"]["fever"]["conditions"].update(flu=5), "unknown condition 'flu'"),
        (lambda d: d["symptoms"]["fever"]["conditions"].update(uti=101), "conditions.uti"),
        (lambda d: d["symptoms"]["fever"].update(urgency="asap"), "symptoms.fever.urgency"),
        # Only a red flag may make an emergency, so its cause is always named.
        (lambda d: d["symptoms"]["fever"].update(urgency="emergency"), "symptoms.fever.urgency"),
        (lambda d: d["symptoms"]["cough"].update(when_lasting=3), "symptoms.cough.when_lasting"),
        (lambda d: d["symptoms"].update(itch="x"), "symptoms.itch: a table"),
        (lambda d: d["red_flags"][0].update(symptom="chest_ache"), "red_flags[0]"),
        (lambda d: d["red_flags"][0].update(min_severity="awful"), "red_flags[0].min_severity"),
        (lambda d: d["red_flags"][0].update(advice=""), "red_flags[0].advice"),
        (lambda d: d.update(red_flags={"a": 1}), "red_flags"),
    ],
)
def test_a_malformed_table_is_refused_naming_the_place(change, complaint):
    with pytest.raises(RuleTableError, match=re.escape(complaint)):
        RuleTable.from_mapping(broken(change))


def test_an_unreadable_file_is_refused_with_its_path(tmp_path: Path):
    bad = tmp_path / "rules.toml"
    bad.write_text("version = \n")

    with pytest.raises(RuleTableError, match=re.escape(str(bad))):
        load_rule_table(bad)
    with pytest.raises(RuleTableError, match=re.escape("missing.toml")):
        load_rule_table(tmp_path / "missing.toml")
