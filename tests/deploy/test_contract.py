"""The settings discovery the deploy tests rely on finds what the code really reads."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.contract import SERVICES, migrate_settings, serve_settings, settings_read_by


def test_discovery_tells_required_settings_from_defaulted_ones(tmp_path: Path) -> None:
    module = tmp_path / "bootstrap.py"
    module.write_text(
        "def build(process, env):\n"
        '    env.str("NOBAT_NEW_REQUIRED")\n'
        '    env.int("NOBAT_NEW_PORT", 8081)\n'
        '    env.float("NOBAT_NEW_DELAY", default=1.5)\n'
        '    env.str("NOBAT_NEW_OPTIONAL", None)\n'
    )
    found = settings_read_by([module])
    assert found.required == {"NOBAT_NEW_REQUIRED"}
    assert found.defaults == {"NOBAT_NEW_PORT": "8081", "NOBAT_NEW_DELAY": "1.5"}


def test_discovery_reads_the_runtime_settings() -> None:
    for service in SERVICES:
        settings = serve_settings(service)
        assert {
            "NOBAT_DATABASE_URL",
            "NOBAT_NATS_URL",
            "NOBAT_TOKEN_ISSUERS_FILE",
        } <= settings.required
        assert settings.defaults["NOBAT_GRPC_PORT"] == "50051"
        assert "NOBAT_SERVICE_SIGNING_KEY" not in settings.defaults
    assert "NOBAT_DATABASE_URL" in migrate_settings().required
