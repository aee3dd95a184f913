from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.errors import InvalidArgument
from runtime.instants import UnknownTimeZone
from runtime.money import Money
from services.booking.domain.doctor import Doctor
from services.booking.domain.events import DoctorUpdated
from tests.unit.booking.builders import FEE, NOW, a_doctor


def test_a_new_doctor_is_active_and_announced_with_the_whole_entry():
    doctor = Doctor.create(
        doctor_id="doctor-1",
        display_name="Dr. Parvin Ahmadi",
        specialty="cardiology",
        time_zone="Asia/Tehran",
        appointment_fee=FEE,
        now=NOW,
    )

    assert doctor.active
    assert doctor.zone.key == "Asia/Tehran"
    assert doctor.events == [
        DoctorUpdated("doctor-1", "Dr. Parvin Ahmadi", "cardiology", "Asia/Tehran", FEE, True, NOW)
    ]


def test_a_doctor_in_an_unknown_time_zone_is_refused():
    with pytest.raises(UnknownTimeZone):
        a_doctor(time_zone="Tehran/Valiasr")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"display_name": "  "}, "display_name"),
        ({"specialty": ""}, "specialty"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"appointment_fee": Money(0, "IRR")}, "appointment_fee"),
        ({"doctor_id": ""}, "doctor_id"),
    ],
)
def test_a_doctor_needs_a_name_a_specialty_and_a_fee(overrides, field):
    with pytest.raises(InvalidArgument) as error:
        a_doctor(**overrides)

    assert field in [violation[0] for violation in error.value.violations]


def test_changing_a_doctor_records_the_new_entry():
    doctor = a_doctor()
    later = NOW + timedelta(hours=1)

    changed = doctor.update(now=later, appointment_fee=Money(300_000, "IRR"), active=False)

    assert changed
    assert doctor.appointment_fee == Money(300_000, "IRR")
    assert not doctor.active
    assert doctor.events == [
        DoctorUpdated(
            "doctor-1",
            "Dr. Parvin Ahmadi",
            "cardiology",
            "Asia/Tehran",
            Money(300_000, "IRR"),
            False,
            later,
        )
    ]


def test_an_update_that_changes_nothing_records_nothing():
    doctor = a_doctor()

    assert not doctor.update(now=NOW, display_name="Dr. Parvin Ahmadi", time_zone="Asia/Tehran")
    assert doctor.events == []


def test_a_bad_update_changes_nothing():
    doctor = a_doctor()

    with pytest.raises(UnknownTimeZone):
        doctor.update(now=NOW, display_name="Dr. P. Ahmadi", time_zone="Nowhere/Special")

    assert doctor.display_name == "Dr. Parvin Ahmadi"
    assert doctor.time_zone == "Asia/Tehran"
    assert doctor.events == []


def test_updated_at_never_goes_back_so_consumers_keep_the_newest_entry():
    doctor = a_doctor()
    before = doctor.updated_at

    doctor.update(now=before - timedelta(seconds=5), specialty="neurology")

    assert doctor.updated_at == before
