"""The triage table against any symptoms, ages and sexes."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from services.consultation.domain.triage import (
    MAX_AGE_YEARS,
    ReportedSymptom,
    Severity,
    Sex,
    Urgency,
)
from tests.unit.consultation.builders import RULES

reported = st.builds(
    ReportedSymptom,
    st.sampled_from(sorted(RULES.symptom_codes)),
    st.none() | st.sampled_from(list(Severity)),
    st.none() | st.integers(0, 60),
)
symptom_lists = st.lists(reported, max_size=8, unique_by=lambda symptom: symptom.code)
ages = st.integers(0, MAX_AGE_YEARS)
sexes = st.none() | st.sampled_from(list(Sex))


@given(symptom_lists, ages, sexes)
def test_an_emergency_is_exactly_a_red_flag_and_is_never_sold_online(listed, age, sex):
    result = RULES.triage(listed, age_years=age, sex=sex)

    assert result.emergency_care_advised == bool(result.red_flags)
    assert (result.urgency is Urgency.EMERGENCY) == bool(result.red_flags)
    assert (result.allowed_types == ()) == result.emergency_care_advised


@given(symptom_lists, ages, sexes)
def test_conditions_are_ranked_scored_within_bounds_and_never_repeated(listed, age, sex):
    conditions = RULES.triage(listed, age_years=age, sex=sex).likely_conditions

    assert all(1 <= condition.score <= 100 for condition in conditions)
    assert [c.score for c in conditions] == sorted((c.score for c in conditions), reverse=True)
    assert len({c.code for c in conditions}) == len(conditions) <= RULES.max_conditions


@given(symptom_lists, reported, ages, sexes)
def test_reporting_one_more_symptom_never_lowers_the_urgency(listed, extra, age, sex):
    # A code reported again with another severity or duration may lower it; a new one not.
    assume(extra.code not in {symptom.code for symptom in listed})
    before = RULES.triage(listed, age_years=age, sex=sex)

    after = RULES.triage([*listed, extra], age_years=age, sex=sex)

    assert after.urgency >= before.urgency
    assert set(before.red_flags) <= set(after.red_flags)


@given(symptom_lists, st.randoms(use_true_random=False), ages, sexes)
def test_the_order_symptoms_are_reported_in_changes_nothing(listed, random, age, sex):
    shuffled = list(listed)
    random.shuffle(shuffled)

    assert RULES.triage(shuffled, age_years=age, sex=sex) == RULES.triage(
        listed, age_years=age, sex=sex
    )
