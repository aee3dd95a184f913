"""Who is calling: bearer JWTs verified by every service.

The API gateway signs end users' tokens; services sign short-lived service tokens for
their calls to each other. A token names a subject and one role.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from runtime.errors import PermissionDenied, Unauthenticated

log = logging.getLogger(__name__)

PATIENT = "patient"
DOCTOR = "doctor"
ADMIN = "admin"
SERVICE = "service"
ROLES = frozenset({PATIENT, DOCTOR, ADMIN, SERVICE})


@dataclass(frozen=True)
class Caller:
    subject: str
    role: str

    def is_(self, *roles: str) -> bool:
        return self.role in roles


_caller: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller")


def current_caller() -> Caller:
    """The verified caller of the RPC being served."""
    return _caller.get()


def set_caller(caller: Caller) -> contextvars.Token:
    return _caller.set(caller)


def reset_caller(token: contextvars.Token) -> None:
    _caller.reset(token)


@dataclass(frozen=True)
class TokenKeys:
    algorithm: str
    verifying_key: str
    signing_key: str | None = None
    audience: str = "nobat"
    issuer: str = "nobat"
    # Put in the header of tokens signed with `signing_key`, when set: the key's id in a
    # JWKS, so that verifiers can tell keys apart while one replaces another.
    key_id: str = ""


class KeySet:
    """Verifying keys by id from a JWKS file, read again whenever the file changes, so a
    key is added or retired without a restart. A file that cannot be read or parsed (half
    written, say) leaves the keys as they were."""

    def __init__(self, path: str, recheck_every: float = 1.0) -> None:
        self._path = path
        self._recheck_every = recheck_every
        self._checked_at = float("-inf")
        self._version: tuple[int, int] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    def get(self, key_id: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        if now - self._checked_at >= self._recheck_every:
            self._checked_at = now
            self._reload()
        return self._keys.get(key_id)

    def _reload(self) -> None:
        try:
            stat = os.stat(self._path)
            version = (stat.st_mtime_ns, stat.st_size)
            if version == self._version:
                return
            with open(self._path) as file:
                keys = jwt.PyJWKSet.from_json(file.read()).keys
        except (OSError, ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
            log.warning("keeping the verifying keys: cannot read %s: %s", self._path, exc)
            return
        self._keys = {key.key_id: key for key in keys if key.key_id}
        self._version = version


# The longest a token may live (exp - iat): a stolen one is worth that much at most.
DEFAULT_MAX_LIFETIME = 3600.0


class TokenVerifier:
    """Tokens naming a key (`kid`) are checked with that key of the JWKS file; tokens
    naming none, with the one configured public key."""

    def __init__(
        self,
        keys: TokenKeys,
        leeway: float = 5.0,
        max_lifetime: float = DEFAULT_MAX_LIFETIME,
        key_set: KeySet | None = None,
    ) -> None:
        self._keys = keys
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._key_set = key_set

    def _key_for(self, token: str) -> tuple[object, list[str]]:
        try:
            key_id = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        if key_id is None:
            return self._keys.verifying_key, [self._keys.algorithm]
        found = self._key_set.get(key_id) if self._key_set and isinstance(key_id, str) else None
        if found is None:
            raise Unauthenticated(f"token signed with an unknown key {key_id!r}")
        return found.key, [found.algorithm_name]

    def verify(self, metadata: Mapping[str, str]) -> Caller:
        header = metadata.get("authorization")
        if not header:
            raise Unauthenticated("missing bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'")
        key, algorithms = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._keys.audience,
                issuer=self._keys.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        # Claims of the wrong type are a bad token, never a server error.
        subject, role = claims["sub"], claims.get("role")
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthenticated("token names no subject")
        if not isinstance(role, str) or role not in ROLES:
            raise Unauthenticated("token carries no known role")
        lifetime = claims["exp"] - claims["iat"]
        if not isinstance(lifetime, int | float) or lifetime > self._max_lifetime:
            raise Unauthenticated(
                f"token lives longer than the {self._max_lifetime:g} s this service accepts"
            )
        return Caller(subject=subject, role=role)


def authorize(caller: Caller, allowed: frozenset[str] | None, method: str) -> None:
    if allowed is None or caller.role not in allowed:
        raise PermissionDenied(f"role {caller.role} may not call {method}")


def mint_token(keys: TokenKeys, subject: str, role: str, ttl: float = 300.0) -> str:
    """Sign a token; services use it for their own calls, tests and the CLI for users."""
    if keys.signing_key is None:
        raise RuntimeError("no signing key configured (NOBAT_JWT_PRIVATE_KEY)")
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role,
        "aud": keys.audience,
        "iss": keys.issuer,
        "iat": now,
        "exp": now + int(ttl),
    }
    headers = {"kid": keys.key_id} if keys.key_id else None
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=headers)


class ServiceToken:
    """A service's own token, re-minted shortly before it expires."""

    def __init__(self, keys: TokenKeys, service: str, ttl: float = 300.0) -> None:
        self._keys = keys
        self._service = service
        self._ttl = ttl
        self._token = ""
        self._renew_at = 0.0

    def __call__(self) -> str:
        now = time.monotonic()
        if now >= self._renew_at:
            self._token = mint_token(self._keys, self._service, SERVICE, self._ttl)
            self._renew_at = now + self._ttl / 2
        return self._token
