from __future__ import annotations

from datetime import timedelta

from services.booking.domain.schedule import replan
from services.booking.domain.slot import Hold, Slot, SlotTime
from tests.unit.booking.builders import NOW

HALF_HOUR = timedelta(minutes=30)


def at(hours: float) -> SlotTime:
    starts_at = NOW + timedelta(hours=hours)
    return SlotTime(starts_at, starts_at + HALF_HOUR)


def existing(slot_id: str, hours: float, **state: object) -> Slot:
    time_ = at(hours)
    return Slot(slot_id, "doctor-1", time_.starts_at, time_.ends_at, **state)


def test_a_free_slot_the_new_pattern_still_wants_stays_and_is_not_created_again():
    slot = existing("kept", 24)

    plan = replan([slot], [at(24), at(25)], NOW)

    assert plan.create == [at(25)]
    assert plan.withdraw == []
    assert not slot.withdrawn


def test_a_free_slot_the_new_pattern_no_longer_wants_is_withdrawn_not_deleted():
    slot = existing("extra", 24)

    plan = replan([slot], [at(25)], NOW)

    assert plan.withdraw == [slot]
    assert slot.withdrawn
    assert plan.create == [at(25)]


def test_held_and_booked_slots_stay_whatever_the_pattern_says_and_block_what_overlaps_them():
    held = existing("held", 24, hold=Hold("checkout-1", "patient-1", NOW + timedelta(minutes=5)))
    booked = existing("booked", 26, reservation_id="reservation-1")

    plan = replan([held, booked], [at(24.25), at(25), at(25.75), at(26.5)], NOW)

    assert plan.withdraw == []
    assert plan.create == [at(25), at(26.5)]


def test_a_slot_whose_hold_lapsed_is_free_and_can_be_withdrawn():
    lapsed = existing(
        "lapsed", 24, hold=Hold("checkout-1", "patient-1", NOW - timedelta(minutes=1))
    )

    plan = replan([lapsed], [], NOW)

    assert plan.withdraw == [lapsed]


def test_past_slots_stay_as_history_and_no_slot_is_created_in_the_past():
    past = existing("past", -2)

    plan = replan([past], [at(-1), at(0), at(1)], NOW)

    assert plan.withdraw == []
    assert plan.create == [at(1)]


def test_a_free_slot_the_pattern_wants_longer_is_replaced_in_place_not_withdrawn_too():
    # One slot is one doctor and one start: withdrawing the old one and creating the new
    # one would write the same slot twice in one statement.
    slot = existing("shorter", 24)
    longer = SlotTime(slot.starts_at, slot.starts_at + 2 * HALF_HOUR)

    plan = replan([slot], [longer], NOW)

    assert plan.create == [longer]
    assert plan.withdraw == []
    assert not slot.withdrawn


def test_a_free_slot_whose_longer_replacement_would_overlap_a_held_one_is_withdrawn():
    slot = existing("shorter", 24)
    held = existing("held", 24.5, hold=Hold("checkout-1", "patient-1", NOW + HALF_HOUR))
    longer = SlotTime(slot.starts_at, slot.starts_at + 2 * HALF_HOUR)

    plan = replan([slot, held], [longer], NOW)

    assert plan.create == []
    assert plan.withdraw == [slot]
