"""TLS settings: off unless set, all of the identity or none of it, and PostgreSQL's
verification on whenever a CA for it is known."""

from __future__ import annotations

import pytest

from runtime.config import Env, InvalidSetting
from runtime.tls import TlsIdentity, TlsSettings

IDENTITY = {
    "NOBAT_TLS_CERT_FILE": "/tls/tls.crt",
    "NOBAT_TLS_KEY_FILE": "/tls/tls.key",
    "NOBAT_TLS_CA_FILE": "/tls/ca.crt",
}


def test_unset_is_plaintext_everywhere() -> None:
    settings = TlsSettings.from_env(Env({}))
    assert settings.identity is None
    assert settings.database_context() is None


def test_an_identity_verifies_postgresql_against_the_clusters_ca_by_default() -> None:
    settings = TlsSettings.from_env(Env(IDENTITY))
    assert settings.identity == TlsIdentity("/tls/tls.crt", "/tls/tls.key", "/tls/ca.crt")
    assert settings.database_ca_file == "/tls/ca.crt"
    other = TlsSettings.from_env(Env(IDENTITY | {"NOBAT_TLS_DATABASE_CA_FILE": "/pg/ca.crt"}))
    assert other.database_ca_file == "/pg/ca.crt"


def test_the_database_ca_alone_turns_on_postgresql_tls_only() -> None:
    settings = TlsSettings.from_env(Env({"NOBAT_TLS_DATABASE_CA_FILE": "/pg/ca.crt"}))
    assert settings.identity is None
    assert settings.database_ca_file == "/pg/ca.crt"


@pytest.mark.parametrize("left_out", sorted(IDENTITY))
def test_part_of_an_identity_is_refused_naming_what_is_missing(left_out: str) -> None:
    partial = {name: path for name, path in IDENTITY.items() if name != left_out}
    with pytest.raises(InvalidSetting) as refused:
        TlsSettings.from_env(Env(partial))
    assert refused.value.name == left_out
