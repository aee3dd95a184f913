from __future__ import annotations

from datetime import timedelta

from services.consultation.domain.assignment import Candidate, least_loaded
from tests.unit.consultation.builders import NEVER, NOW, a_doctor


def pick(*pool: Candidate, excluding=()) -> str | None:
    chosen = least_loaded(pool, NOW, excluding=excluding)
    return chosen.doctor.id if chosen is not None else None


def test_the_doctor_with_the_fewest_open_consultations_gets_the_next():
    assert (
        pick(Candidate(a_doctor("a"), 3), Candidate(a_doctor("b"), 1), Candidate(a_doctor("c"), 2))
        == "b"
    )


def test_among_equals_the_one_who_waited_longest_since_an_assignment_goes_first():
    hour = timedelta(hours=1)
    pool = (
        Candidate(a_doctor("a"), 1, NOW - hour),
        Candidate(a_doctor("b"), 1, NOW - 3 * hour),
        Candidate(a_doctor("c"), 1, NOW - 2 * hour),
    )

    assert pick(*pool) == "b"
    assert pick(*pool[:1], Candidate(a_doctor("d"), 1, None)) == "d"


def test_a_full_tie_goes_to_the_smallest_id_whatever_the_order():
    pool = [Candidate(a_doctor(name), 0) for name in ("doctor-b", "doctor-c", "doctor-a")]

    assert pick(*pool) == pick(*reversed(pool)) == "doctor-a"


def test_doctors_off_shift_inactive_or_excluded_are_never_picked():
    pool = (
        Candidate(a_doctor("off", shifts=NEVER), 0),
        Candidate(a_doctor("gone", active=False), 0),
        Candidate(a_doctor("declined"), 0),
        Candidate(a_doctor("busy"), 9),
    )

    assert pick(*pool, excluding={"declined"}) == "busy"
    assert pick(*pool[:3], excluding={"declined"}) is None
    assert pick() is None


def test_taking_one_adds_to_the_load_and_moves_the_turn():
    took = Candidate(a_doctor("a"), 0).took_one(NOW)

    assert (took.open_consultations, took.last_assigned_at) == (1, NOW)
    assert pick(took, Candidate(a_doctor("b"), 1, NOW - timedelta(minutes=1))) == "b"
