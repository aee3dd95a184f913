"""Who signs tokens on a developer's machine and in the tests, as in production: a
stand-in for the API gateway's identity provider, and each service with its own key pair.

The stand-in signs as Keycloak does, with the user's roles in `realm_access.roles`
beside roles of other applications, so every local run and every test goes through the
configurable role claim and the issuer checks that production relies on.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from runtime.auth import SERVICE, TokenKeys, mint_token, service_audience, service_issuer

PROVIDER_ISSUER = "https://id.nobat.localhost/realms/nobat"
PROVIDER_AUDIENCE = "nobat"
PROVIDER_ROLE_CLAIM = ["realm_access", "roles"]
PROVIDER_ROLES = ["patient", "doctor", "admin"]


def generate_token_keys(key_id: str = "") -> TokenKeys:
    """A fresh ES256 key pair."""
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


def public_jwk(key: TokenKeys) -> dict[str, str]:
    """The public half of `key` as a JWK, under its key id."""
    public = serialization.load_pem_public_key(key.verifying_key.encode())
    entry = json.loads(jwt.get_algorithm_by_name(key.algorithm).to_jwk(public))
    return entry | {"kid": key.key_id, "alg": key.algorithm, "use": "sig"}


def write_jwks(path: Path, keys: Iterable[TokenKeys], kept: Iterable[dict] = ()) -> None:
    """A JWKS file of the public halves of `keys` (after the JWKs `kept`), written whole
    at once: a verifier never reads half of it."""
    entries = [*kept, *(public_jwk(key) for key in keys)]
    written = path.with_suffix(".tmp")
    written.write_text(json.dumps({"keys": entries}, indent=2))
    written.replace(path)


def user_token(keys: TokenKeys, subject: str, role: str, ttl: float = 300.0) -> str:
    """A user's token as the stand-in identity provider signs it."""
    return mint_token(
        keys,
        issuer=PROVIDER_ISSUER,
        audience=PROVIDER_AUDIENCE,
        subject=subject,
        ttl=ttl,
        claims={"realm_access": {"roles": [role, "offline_access", "uma_authorization"]}},
    )


@dataclass
class Identities:
    """The signers of one local stack or test, their published keys and the issuers file
    every service reads, under `directory`.

    The provider's key is kept across runs (as a real identity provider's is), so tokens
    the CLI minted stay valid after a restart; the services' keys are new every run.
    """

    directory: Path
    services: Iterable[str]
    provider: TokenKeys = field(init=False)
    service_keys: dict[str, TokenKeys] = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory).absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.provider = self._provider_keys()
        if not self.provider_jwks.exists():
            write_jwks(self.provider_jwks, [self.provider])
        self.service_keys = {
            name: generate_token_keys(key_id=f"{name}-local") for name in self.services
        }
        issuers: list[dict[str, object]] = [
            {
                "issuer": PROVIDER_ISSUER,
                "jwks": str(self.provider_jwks),
                "audience": PROVIDER_AUDIENCE,
                "roles": PROVIDER_ROLES,
                "role_claim": PROVIDER_ROLE_CLAIM,
            }
        ]
        for name, keys in self.service_keys.items():
            jwks = self.directory / f"{name}.jwks.json"
            write_jwks(jwks, [keys])
            issuers.append({"service": name, "jwks": str(jwks)})
        self.issuers_file.write_text(json.dumps({"issuers": issuers}, indent=2))

    @property
    def provider_keys_file(self) -> Path:
        return self.directory / "provider-keys.json"

    @property
    def provider_jwks(self) -> Path:
        """The provider's published keys, by key id: a key written here is trusted by
        every service within a second, without a restart (how rotation is tested)."""
        return self.directory / "provider.jwks.json"

    @property
    def issuers_file(self) -> Path:
        return self.directory / "issuers.json"

    def _provider_keys(self) -> TokenKeys:
        if self.provider_keys_file.exists():
            return TokenKeys(**json.loads(self.provider_keys_file.read_text()))
        keys = generate_token_keys(key_id="provider-local")
        self.provider_keys_file.touch(mode=0o600)
        self.provider_keys_file.write_text(json.dumps(asdict(keys)))
        return keys

    def env(self, service: str) -> dict[str, str]:
        """The NOBAT_* settings of `service`'s tokens: whom to believe, and its own key."""
        keys = self.service_keys[service]
        return {
            "NOBAT_TOKEN_ISSUERS_FILE": str(self.issuers_file),
            "NOBAT_SERVICE_SIGNING_KEY": keys.signing_key or "",
            "NOBAT_SERVICE_SIGNING_ALGORITHM": keys.algorithm,
            "NOBAT_SERVICE_KEY_ID": keys.key_id,
        }

    def token(self, subject: str, role: str, *, to: str | None = None, ttl: float = 300.0) -> str:
        """A bearer token: a user's from the provider, good at every service; or for role
        `service`, the token service `subject` signs with its own key for calling `to`."""
        if role != SERVICE:
            return user_token(self.provider, subject, role, ttl)
        if to is None:
            raise ValueError("a service's token is addressed to the service it calls")
        return mint_token(
            self.service_keys[subject],
            issuer=service_issuer(subject),
            audience=service_audience(to),
            subject=subject,
            ttl=ttl,
            claims={"role": SERVICE},
        )


def issue_service_key(service: str, directory: Path, key_id: str) -> TokenKeys:
    """A new key pair for `service`: its private key in `<service>.key` (for its Secret)
    and its public key added to `<service>.jwks.json` beside those already there (for
    the verifiers' ConfigMap), so the old key stays believed until it is removed."""
    keys = generate_token_keys(key_id=key_id)
    private = directory / f"{service}.key"
    private.touch(mode=0o600)
    private.write_text(keys.signing_key or "")
    jwks = directory / f"{service}.jwks.json"
    published = json.loads(jwks.read_text())["keys"] if jwks.exists() else []
    write_jwks(jwks, [keys], kept=[key for key in published if key.get("kid") != key_id])
    return keys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stack.identity",
        description="a service's new signing key (deploy/README.md, 'Identity')",
    )
    parser.add_argument("service", help="the service that signs with it: booking, consultation")
    parser.add_argument("directory", type=Path, help="where <service>.key and .jwks.json go")
    parser.add_argument("--key-id", default=None, help="default: <service>-<UTC date>")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    key_id = args.key_id or f"{args.service}-{datetime.now(UTC):%Y%m%d%H%M}"
    issue_service_key(args.service, args.directory, key_id)
    print(key_id)


if __name__ == "__main__":
    main()
