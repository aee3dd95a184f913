"""The shipped triage table, case by case: conditions, urgency, red flags, offers."""

from __future__ import annotations

import pytest

from services.consultation.domain.errors import UnknownSymptom
from services.consultation.domain.rule_table import load_rule_table
from services.consultation.domain.triage import ReportedSymptom, Severity, Sex, Urgency
from tests.unit.consultation.builders import CHAT, EMERGENCY, RULES, VIDEO, symptoms


def triage(*reported: ReportedSymptom | str, age: int = 30, sex: Sex | None = Sex.FEMALE):
    listed = [r if isinstance(r, ReportedSymptom) else ReportedSymptom(r) for r in reported]
    return RULES.triage(listed, age_years=age, sex=sex)


def codes(result) -> list[str]:
    return [condition.code for condition in result.likely_conditions]


def test_the_shipped_table_loads_and_names_its_version():
    table = load_rule_table()

    assert table.version == "2025.11.1"
    assert {"fever", "chest_pain", "painful_urination"} <= table.symptom_codes


def test_a_sore_throat_with_fever_ranks_strep_throat_first_and_can_wait_a_day():
    result = triage("sore_throat", "fever")

    assert result.likely_conditions[0].code == "strep_throat"
    assert result.likely_conditions[0].name == "Strep throat"
    assert result.likely_conditions[0].score == 60
    assert result.urgency is Urgency.SOON
    assert result.red_flags == ()
    assert not result.emergency_care_advised
    assert result.allowed_types == (CHAT, VIDEO, EMERGENCY)
    assert result.rules_version == "2025.11.1"


def test_conditions_are_ranked_by_score_then_by_code_and_cut_at_the_tables_maximum():
    result = triage("cough", "fever", "sore_throat", "runny_nose")

    scores = [(-c.score, c.code) for c in result.likely_conditions]
    assert scores == sorted(scores)
    assert len(result.likely_conditions) == 5
    # common_cold 20 + 10 + 30 + 45 and influenza 20 + 30 + 10 + 5.
    assert codes(result)[:2] == ["common_cold", "influenza"]


def test_a_score_never_goes_above_one_hundred():
    result = triage("facial_droop", "arm_weakness", "slurred_speech")

    assert result.likely_conditions[0].code == "stroke"
    assert result.likely_conditions[0].score == 100


def test_painful_and_frequent_urination_point_to_a_urinary_infection():
    result = triage("painful_urination", "frequent_urination")

    assert codes(result)[0] == "uti"
    assert result.urgency is Urgency.SOON


def test_sex_specific_conditions_are_left_out_only_for_the_other_sex():
    for_women = triage("abdominal_pain", sex=Sex.FEMALE)
    for_men = triage("abdominal_pain", sex=Sex.MALE)
    unsaid = triage("abdominal_pain", sex=None)
    other = triage("abdominal_pain", sex=Sex.OTHER)

    assert "ectopic_pregnancy" in codes(for_women)
    assert "ectopic_pregnancy" not in codes(for_men)
    assert "ectopic_pregnancy" in codes(unsaid)
    assert "ectopic_pregnancy" in codes(other)


def test_age_limits_leave_conditions_out_for_patients_outside_them():
    assert "pregnancy" in codes(triage("missed_period", age=25))
    assert "pregnancy" not in codes(triage("missed_period", age=70))
    assert "acute_coronary_syndrome" not in codes(triage("chest_pain", age=8))


def test_severity_and_duration_raise_urgency_as_the_table_says():
    assert triage("headache").urgency is Urgency.ROUTINE
    assert triage(ReportedSymptom("headache", Severity.SEVERE)).urgency is Urgency.URGENT
    assert triage(ReportedSymptom("cough", days_since_onset=20)).urgency is Urgency.ROUTINE
    assert triage(ReportedSymptom("cough", days_since_onset=21)).urgency is Urgency.SOON
    assert triage(ReportedSymptom("fever", Severity.MILD, 5)).urgency is Urgency.URGENT


def test_the_highest_urgency_of_the_symptoms_wins():
    assert triage("runny_nose", "chest_pain").urgency is Urgency.URGENT


def test_chest_pain_alone_is_urgent_and_offers_video_and_emergency_consultations():
    result = triage("chest_pain")

    assert result.urgency is Urgency.URGENT
    assert result.red_flags == ()
    assert result.allowed_types == (VIDEO, EMERGENCY)


def test_chest_pain_with_breathlessness_is_a_red_flag_for_emergency_care_in_person():
    result = triage("chest_pain", "shortness_of_breath", age=60)

    assert [flag.symptom_code for flag in result.red_flags] == ["chest_pain"]
    assert "emergency department" in result.red_flags[0].advice
    assert "heart attack" in result.red_flags[0].advice
    assert result.urgency is Urgency.EMERGENCY
    assert result.emergency_care_advised
    # Likely conditions are still listed, for the record and the doctor.
    assert codes(result)[0] == "acute_coronary_syndrome"


def test_an_emergency_gets_no_online_consultation_at_all():
    result = triage("chest_pain", "shortness_of_breath")

    assert result.allowed_types == ()


def test_severe_chest_pain_alone_is_a_red_flag():
    result = triage(ReportedSymptom("chest_pain", Severity.SEVERE))

    assert result.emergency_care_advised
    assert "severe chest pain" in result.red_flags[0].advice


def test_each_stroke_sign_is_its_own_red_flag():
    result = triage("facial_droop", "slurred_speech")

    assert [flag.symptom_code for flag in result.red_flags] == ["facial_droop", "slurred_speech"]


def test_fever_is_a_red_flag_for_a_baby_and_not_for_an_adult():
    assert triage("fever", age=0).emergency_care_advised
    assert not triage("fever", age=1).emergency_care_advised


def test_fever_with_a_stiff_neck_is_a_red_flag_for_meningitis():
    result = triage("stiff_neck", "fever")

    assert result.red_flags[0].symptom_code == "stiff_neck"
    assert "meningitis" in result.red_flags[0].advice


def test_a_sex_specific_red_flag_applies_unless_the_sex_rules_it_out():
    bleeding = ("vaginal_bleeding", "abdominal_pain")

    assert triage(*bleeding, sex=Sex.FEMALE).emergency_care_advised
    assert triage(*bleeding, sex=None).emergency_care_advised
    assert not triage(*bleeding, sex=Sex.MALE).emergency_care_advised
    assert not triage(*bleeding, sex=Sex.FEMALE, age=70).emergency_care_advised


def test_suicidal_thoughts_are_urgent_and_a_red_flag_when_severe():
    assert triage("suicidal_thoughts").urgency is Urgency.URGENT
    severe = ReportedSymptom("suicidal_thoughts", Severity.SEVERE)
    assert triage(severe).emergency_care_advised


def test_every_matching_rule_gives_its_advice_once():
    result = triage(ReportedSymptom("chest_pain", Severity.SEVERE), "shortness_of_breath")
    again = triage(
        ReportedSymptom("chest_pain", Severity.SEVERE),
        "shortness_of_breath",
        ReportedSymptom("chest_pain", Severity.SEVERE),
    )

    advice = [flag.advice for flag in result.red_flags]
    assert len(advice) == len(set(advice)) == 2
    assert any("breathlessness" in text for text in advice)
    assert any("severe chest pain" in text for text in advice)
    assert again.red_flags == result.red_flags


def test_no_symptoms_is_a_routine_triage_with_nothing_likely():
    result = triage()

    assert result.likely_conditions == ()
    assert result.urgency is Urgency.ROUTINE
    assert result.allowed_types == (CHAT, VIDEO)


def test_every_unknown_code_is_refused_by_its_field():
    with pytest.raises(UnknownSymptom) as raised:
        RULES.triage(symptoms("fever", "fevre", "headache", "xyz"), age_years=30, sex=None)

    assert raised.value.violations == [
        ("symptoms[1].code", "'fevre' is not a symptom code of the triage table"),
        ("symptoms[3].code", "'xyz' is not a symptom code of the triage table"),
    ]
