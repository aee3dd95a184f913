"""The quota settings each service reads: a cap set is the cap used, none gives the
default, and a cap of nothing stops the service at start with the setting's name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.config import Env, InvalidSetting
from services.booking.bootstrap import booking_settings
from services.consultation.bootstrap import consultation_settings
from services.payment.bootstrap import payment_settings
from tests.unit.test_return_urls import PRODUCTION

CAPS = pytest.mark.parametrize(
    ("settings_of", "name", "cap"),
    [
        (booking_settings, "NOBAT_BOOKING_MAX_OPEN_CHECKOUTS", lambda s: s.max_open_checkouts),
        (
            consultation_settings,
            "NOBAT_CONSULTATION_MAX_OPEN_CHECKOUTS",
            lambda s: s.max_open_checkouts,
        ),
        (payment_settings, "NOBAT_PAYMENT_MAX_ATTEMPTS", lambda s: s.gateway_calls.attempts),
    ],
    ids=["booking", "consultation", "payment"],
)


@CAPS
def test_a_cap_set_is_the_cap_used_and_none_gives_five(settings_of, name, cap):
    assert cap(settings_of(Env(PRODUCTION | {name: "3"}))) == 3
    assert cap(settings_of(Env(PRODUCTION))) == 5


@CAPS
@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_cap_of_nothing_stops_the_service_naming_the_setting(settings_of, name, cap, value):
    with pytest.raises(InvalidSetting, match=name):
        settings_of(Env(PRODUCTION | {name: value}))


def test_payments_gateway_call_intervals_are_read_in_seconds():
    limits = payment_settings(
        Env(
            PRODUCTION
            | {
                "NOBAT_PAYMENT_GATEWAY_CHECK_SECONDS": "2.5",
                "NOBAT_PAYMENT_ATTEMPT_WINDOW_SECONDS": "60",
            }
        )
    ).gateway_calls
    assert (limits.check_every, limits.window) == (timedelta(seconds=2.5), timedelta(minutes=1))
