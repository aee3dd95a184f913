"""Signing keys for development and tests: a fresh ES256 pair, as the API gateway would hold."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from runtime.auth import TokenKeys


def generate_token_keys(key_id: str = "") -> TokenKeys:
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return TokenKeys(
        algorithm="ES256", verifying_key=public_pem, signing_key=private_pem, key_id=key_id
    )


def write_jwks(path: Path, keys: Iterable[TokenKeys]) -> None:
    """A JWKS file of the public halves of `keys`, each under its key id, written whole
    at once (a verifier never reads half of it)."""
    entries = []
    for key in keys:
        public = serialization.load_pem_public_key(key.verifying_key.encode())
        entry = json.loads(jwt.get_algorithm_by_name(key.algorithm).to_jwk(public))
        entries.append(entry | {"kid": key.key_id, "alg": key.algorithm, "use": "sig"})
    written = path.with_suffix(".tmp")
    written.write_text(json.dumps({"keys": entries}, indent=2))
    written.replace(path)


def token_env(keys: TokenKeys) -> dict[str, str]:
    """The NOBAT_JWT_* variables a service process needs for these keys."""
    env = {
        "NOBAT_JWT_ALGORITHM": keys.algorithm,
        "NOBAT_JWT_PUBLIC_KEY": keys.verifying_key,
        "NOBAT_JWT_AUDIENCE": keys.audience,
        "NOBAT_JWT_ISSUER": keys.issuer,
    }
    if keys.signing_key:
        env["NOBAT_JWT_PRIVATE_KEY"] = keys.signing_key
    return env
