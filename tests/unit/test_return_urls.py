"""A return URL is an https URL on a host of the clinic's own apps; each service that takes
one is started with the allow-list and a default held to the same rules."""

from __future__ import annotations

import pytest

from runtime.config import DEVELOPMENT, Env, InvalidSetting, MissingSetting
from runtime.errors import InvalidArgument
from runtime.return_urls import ReturnUrls
from services.booking.bootstrap import booking_settings
from services.consultation.bootstrap import consultation_settings
from services.payment.bootstrap import payment_settings

CLINIC = ReturnUrls.parse("app.clinic.example, *.tenants.clinic.example", development=False)
LOCAL = ReturnUrls.parse("localhost,127.0.0.1", development=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.clinic.example/booking/return",
        "https://app.clinic.example:8443/return?from=app#top",
        "https://APP.Clinic.Example./return",
        "https://kashan.tenants.clinic.example/return",
    ],
)
def test_a_url_on_an_allowed_host_passes_as_given(url):
    assert CLINIC.checked(url) == url


def test_no_url_passes_and_means_the_services_default():
    assert CLINIC.checked("") == ""


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.net/steal?x=1",
        "https://app.clinic.example.evil.example.net/",
        "https://evilapp.clinic.example/",
        "https://tenants.clinic.example/",
        "https://app.clinic.example@evil.example.net/",
        "https://user:pw@app.clinic.example/",
        "https://evil.example.net\\@app.clinic.example/",
        "https://evil.example.net\\.app.clinic.example/",
        "http://app.clinic.example/return",
        "javascript:alert(1)//app.clinic.example",
        "//app.clinic.example/return",
        "/return",
        "https://app.clinic.example:99999/",
        "https://app.clinic.example/\nLocation: https://evil.example.net/",
        "https://app.clinic.example/ return",
        "https://app.clinic.example/خانه",
        "https://app.clinic.example/" + "x" * 2048,
        "https://localhost/return",
    ],
)
def test_anything_else_is_invalid_argument_naming_the_field(url):
    with pytest.raises(InvalidArgument) as refused:
        CLINIC.checked(url, "return_url")
    assert [field for field, _ in refused.value.violations] == ["return_url"]


def test_the_refusal_tells_the_app_where_it_may_return_to():
    with pytest.raises(InvalidArgument) as refused:
        CLINIC.checked("https://evil.example.net/")
    assert "app.clinic.example" in refused.value.message


def test_development_takes_plain_http_on_its_own_hosts_only():
    assert LOCAL.checked("http://localhost/nobat/booking-return")
    assert LOCAL.checked("http://127.0.0.1:8080/return")
    with pytest.raises(InvalidArgument):
        LOCAL.checked("http://evil.example.net/")


@pytest.mark.parametrize(
    ("hosts", "development"),
    [
        ("", False),
        (" , ", False),
        ("localhost", False),
        ("app.clinic.example,127.0.0.1", False),
        ("api.localhost", False),
        ("https://app.clinic.example", False),
        ("app.clinic.example/return", False),
        ("*", True),
    ],
)
def test_an_allow_list_that_cannot_be_right_stops_the_service_at_start(hosts, development):
    with pytest.raises(InvalidSetting) as refused:
        ReturnUrls.parse(hosts, development=development)
    assert refused.value.name == "NOBAT_RETURN_URL_HOSTS"


PRODUCTION = {
    "NOBAT_RETURN_URL_HOSTS": "app.clinic.example",
    "NOBAT_BOOKING_RETURN_URL": "https://app.clinic.example/booking/return",
    "NOBAT_CONSULTATION_RETURN_URL": "https://app.clinic.example/consultation/return",
    "NOBAT_PAYMENT_RETURN_URL": "https://app.clinic.example/wallet/return",
}
EACH_SERVICE = pytest.mark.parametrize(
    ("settings_of", "default"),
    [
        (booking_settings, "NOBAT_BOOKING_RETURN_URL"),
        (consultation_settings, "NOBAT_CONSULTATION_RETURN_URL"),
        (payment_settings, "NOBAT_PAYMENT_RETURN_URL"),
    ],
    ids=["booking", "consultation", "payment"],
)


@EACH_SERVICE
def test_each_service_starts_with_the_allow_list_and_its_default(settings_of, default):
    settings = settings_of(Env(PRODUCTION))
    assert settings.default_return_url == PRODUCTION[default]
    assert settings.return_urls == ReturnUrls(frozenset({"app.clinic.example"}), False)


@EACH_SERVICE
@pytest.mark.parametrize("missing", ["NOBAT_RETURN_URL_HOSTS", "default"])
def test_a_service_has_no_placeholder_to_fall_back_on(settings_of, default, missing):
    given = {
        k: v for k, v in PRODUCTION.items() if k != (default if missing == "default" else missing)
    }
    with pytest.raises(MissingSetting):
        settings_of(Env(given))


@EACH_SERVICE
@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/nobat/return",
        "http://app.clinic.example/return",
        "https://elsewhere.example/return",
    ],
)
def test_a_default_the_callers_could_not_give_stops_the_service(settings_of, default, url):
    with pytest.raises(InvalidSetting) as refused:
        settings_of(Env({**PRODUCTION, default: url}))
    assert refused.value.name == default


@EACH_SERVICE
def test_the_local_stacks_settings_are_for_development_only(settings_of, default):
    local = {
        "NOBAT_RETURN_URL_HOSTS": "localhost",
        default: "http://localhost/nobat/return",
    }
    with pytest.raises(InvalidSetting):
        settings_of(Env(local))
    assert settings_of(Env({**local, DEVELOPMENT: "true"})).return_urls.development
