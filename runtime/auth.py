"""Who is calling: bearer JWTs verified by every service.

The API gateway signs end users' tokens; services sign short-lived service tokens for
their calls to each other. A token names a subject and one role.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from runtime.errors import PermissionDenied, Unauthenticated

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


# The longest a token may live (exp - iat): a stolen one is worth that much at most.
DEFAULT_MAX_LIFETIME = 3600.0


class TokenVerifier:
    def __init__(
        self, keys: TokenKeys, leeway: float = 5.0, max_lifetime: float = DEFAULT_MAX_LIFETIME
    ) -> None:
        self._keys = keys
        self._leeway = leeway
        self._max_lifetime = max_lifetime

    def verify(self, metadata: Mapping[str, str]) -> Caller:
        header = metadata.get("authorization")
        if not header:
            raise Unauthenticated("missing bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'")
        try:
            claims = jwt.decode(
                token,
                self._keys.verifying_key,
                algorithms=[self._keys.algorithm],
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
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm)


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
