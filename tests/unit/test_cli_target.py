"""Where `nobat status` and `nobat check` look: a flag beats its variable, either beats
the local stack's manifest, and a malformed address is refused before anything is read."""

from __future__ import annotations

import argparse
import json

import pytest

from cli.main import main
from cli.target import Target, add_target_arguments, resolve
from runtime.config import InvalidSetting

PAYMENT_DB = "postgresql+asyncpg://payment@db.nobat.svc/payment"


def parsed(*argv: str, manifest: str = "/nowhere/stack.json") -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", default=manifest)
    add_target_arguments(parser)
    return parser.parse_args(argv)


def test_the_cluster_is_read_from_the_variables() -> None:
    environ = {
        "NOBAT_CHECK_PAYMENT_DATABASE_URL": PAYMENT_DB,
        "NOBAT_CHECK_NATS_URL": "nats://observer@nats.nats.svc:4222",
        "NOBAT_CHECK_BOOKING_ADDRESS": "nobat-booking-grpc:50051",
    }
    target = resolve(parsed(), environ)
    assert target.databases == {"payment": PAYMENT_DB}
    assert target.nats == "nats://observer@nats.nats.svc:4222"
    assert target.services == {"booking": "nobat-booking-grpc:50051"}
    assert target.tls.identity is None and target.tls.database_context() is None


def test_a_flag_wins_over_its_variable() -> None:
    environ = {"NOBAT_CHECK_PAYMENT_DATABASE_URL": "postgresql://old/payment"}
    target = resolve(parsed("--database", f"payment={PAYMENT_DB}"), environ)
    assert target.databases == {"payment": PAYMENT_DB}


def test_without_addresses_the_manifest_is_read(tmp_path) -> None:
    manifest = tmp_path / "stack.json"
    manifest.write_text(
        json.dumps(
            {
                "databases": {"payment": PAYMENT_DB},
                "nats": "nats://127.0.0.1:4222",
                "services": {"payment": "127.0.0.1:50051"},
            }
        )
    )
    target = resolve(parsed(manifest=str(manifest)), {})
    assert target == Target(
        {"payment": PAYMENT_DB}, "nats://127.0.0.1:4222", {"payment": "127.0.0.1:50051"}
    )


@pytest.mark.parametrize("pair", ["payment", "billing=postgresql://x/y", "payment="])
def test_a_malformed_address_is_refused_naming_the_flag(pair: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--database", pair])
    assert exited.value.code == 1
    assert "--database takes SERVICE=VALUE" in capsys.readouterr().err


def test_tls_flags_stand_for_the_services_tls_settings(tmp_path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("")
    given = parsed(
        "--nats", "tls://nats:4222", "--tls-cert", "c", "--tls-key", "k", "--tls-ca", str(ca)
    )
    target = resolve(given, {})
    assert (target.tls.identity.cert_file, target.tls.identity.key_file) == ("c", "k")
    # The database is verified against the cluster's CA unless told another.
    assert target.tls.database_ca_file == str(ca)
    with pytest.raises(InvalidSetting, match="NOBAT_TLS_KEY_FILE"):
        resolve(parsed("--nats", "tls://nats:4222", "--tls-cert", "c", "--tls-ca", "a"), {})


def test_check_without_payments_database_says_what_to_give(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--nats", "nats://127.0.0.1:4222"])
    assert exited.value.code == 1
    assert "--database payment=URL" in capsys.readouterr().err


def test_version_is_the_installed_ones(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "nobat 0.1.0"
