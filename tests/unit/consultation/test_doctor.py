from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.instants import UnknownTimeZone
from tests.unit.consultation.builders import NOW, a_doctor


def test_a_newer_directory_entry_updates_the_copy_and_an_older_one_does_not():
    doctor = a_doctor()

    assert doctor.directory_updated(time_zone="Europe/London", active=False, updated_at=NOW)
    assert not doctor.directory_updated(
        time_zone="Asia/Tehran", active=True, updated_at=NOW - timedelta(days=1)
    )

    assert (doctor.time_zone, doctor.active, doctor.updated_at) == ("Europe/London", False, NOW)


def test_a_copy_never_takes_an_unknown_zone():
    with pytest.raises(UnknownTimeZone):
        a_doctor(time_zone="Europe/Atlantis")
    doctor = a_doctor()
    with pytest.raises(UnknownTimeZone):
        doctor.directory_updated(time_zone="Nowhere", active=True, updated_at=NOW)
    assert doctor.time_zone == "Asia/Tehran"
