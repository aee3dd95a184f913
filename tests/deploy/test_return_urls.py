"""Each overlay starts the services that take return URLs with an allow-list and defaults
they accept outside development: https on the clinic's hosts, no localhost, and no
development switch in any manifest."""

from __future__ import annotations

import pytest

from runtime.config import DEVELOPMENT, Env
from runtime.return_urls import ReturnUrls
from services.booking.bootstrap import booking_settings
from services.consultation.bootstrap import consultation_settings
from services.payment.bootstrap import payment_settings
from tests.deploy.contract import SERVICES
from tests.deploy.manifests import (
    KUSTOMIZATIONS,
    OVERLAYS,
    container_env,
    migration,
    only_container,
    rendered,
    server,
)

SETTINGS = {
    "payment": payment_settings,
    "booking": booking_settings,
    "consultation": consultation_settings,
}


def plain_env(overlay: str, service: str) -> dict[str, str]:
    """What the server's container is given as plain values (secrets left out)."""
    docs = rendered(f"overlays/{overlay}")
    env = container_env(only_container(server(docs, service)), docs)
    return {name: source.value for name, source in env.items() if source.value is not None}


@pytest.mark.parametrize(("overlay", "service"), [(o, s) for o in OVERLAYS for s in SETTINGS])
def test_the_return_url_settings_start_the_service_outside_development(overlay, service):
    env = plain_env(overlay, service)
    settings = SETTINGS[service](Env(env))
    assert not settings.return_urls.development
    assert settings.default_return_url.startswith("https://")
    assert settings.return_urls.checked(settings.default_return_url)
    assert settings.return_urls == ReturnUrls.parse(
        env["NOBAT_RETURN_URL_HOSTS"], development=False
    )


@pytest.mark.parametrize(("overlay", "service"), [(o, s) for o in OVERLAYS for s in SERVICES])
def test_no_workload_is_a_development_one(overlay, service):
    docs = rendered(f"overlays/{overlay}")
    for workload in (server(docs, service), migration(docs, service)):
        assert DEVELOPMENT not in container_env(only_container(workload), docs)


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_no_setting_sends_a_browser_to_this_machine(path):
    for doc in rendered(path):
        if doc["kind"] != "ConfigMap":
            continue
        for name, value in doc.get("data", {}).items():
            if "RETURN_URL" in name:
                assert "localhost" not in value and "127.0.0.1" not in value, (name, value)
