"""Who is calling: bearer JWTs verified by every service, trusted per issuer.

End users sign in with the API gateway's identity provider, which asserts patients,
doctors and admins; each nobat service signs short-lived tokens for its own calls to
another and asserts only itself. A token names a subject and one role; what a role (or a
named service) may call is each servicer's ACCESS table.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import jwt

from runtime.errors import PermissionDenied, Unauthenticated
from runtime.jwks import UnknownKey, key_source

PATIENT = "patient"
DOCTOR = "doctor"
ADMIN = "admin"
SERVICE = "service"
ROLES = frozenset({PATIENT, DOCTOR, ADMIN, SERVICE})


@dataclass(frozen=True)
class Caller:
    subject: str
    role: str
    # When its token expires (`exp`, seconds since the epoch): a live stream ends then.
    # None for a caller made in code, whose identity does not run out.
    expires_at: float | None = field(default=None, compare=False)

    def is_(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def grant(self) -> str:
        """What an access set must list to let this caller in: its role, or for a
        service the service by name (see `as_service`)."""
        return as_service(self.subject) if self.role == SERVICE else self.role


class KeySource(Protocol):
    async def key_for(self, key_id: object) -> jwt.PyJWK: ...


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
    """One key pair that signs tokens: a service's own, or (in development and tests)
    the stand-in identity provider's. `key_id` goes in each token's header so that
    verifiers find the key in the signer's JWKS while one key replaces another."""

    algorithm: str
    verifying_key: str
    signing_key: str | None = None
    key_id: str = ""


def service_issuer(service: str) -> str:
    """The `iss` of the tokens a nobat service signs for its own calls."""
    return f"nobat-{service}"


def service_audience(service: str) -> str:
    """The `aud` a token must carry to be accepted by `service`: a token booking made
    for payment is no use against consultation."""
    return f"nobat-{service}"


def as_service(service: str) -> str:
    """What an RPC's access set lists to let `service`, and no other, call it."""
    return f"{SERVICE}:{service}"


# The longest a token may live (exp - iat): a stolen one is worth that much at most.
DEFAULT_MAX_LIFETIME = 3600.0
# A service's tokens are minted for 5 minutes (ServiceToken) and believed for 10 at most.
SERVICE_TOKEN_MAX_LIFETIME = 600.0


@dataclass(frozen=True)
class Issuer:
    """Someone whose tokens nobat believes, for what it may assert.

    The identity provider that the API gateway signs users in with asserts patients,
    doctors and admins, in whichever claim it puts roles (`role_claim` is the path to it:
    ["role"], or ["realm_access", "roles"] for Keycloak's realm roles, or a namespaced
    custom claim); `role_names` maps its names for the roles to nobat's. A nobat service
    asserts only itself: its tokens name it as subject, carry the role `service`, and are
    addressed to the one service they call.
    """

    name: str
    keys: KeySource
    roles: frozenset[str]
    audience: str
    role_claim: tuple[str, ...] = ("role",)
    role_names: Mapping[str, str] = field(default_factory=dict)
    service: str | None = None
    max_lifetime: float = DEFAULT_MAX_LIFETIME

    def role_of(self, claims: Mapping[str, object]) -> str:
        found: object = claims
        for step in self.role_claim:
            found = found.get(step) if isinstance(found, Mapping) else None
        named = [found] if isinstance(found, str) else found if isinstance(found, list) else []
        # An identity provider's role list holds roles of other applications too; only
        # nobat's count, and a token must carry exactly one of them.
        ours = {
            self.role_names.get(name, name)
            for name in named
            if isinstance(name, str) and self.role_names.get(name, name) in ROLES
        }
        if not ours:
            raise Unauthenticated("token carries no known role")
        if len(ours) > 1:
            raise Unauthenticated(f"token carries several roles: {', '.join(sorted(ours))}")
        (role,) = ours
        if role not in self.roles:
            raise Unauthenticated(f"issuer {self.name} may not assert the role {role}")
        return role


def read_issuers(document: str, verifier: str, max_lifetime: float) -> list[Issuer]:
    """The issuers a service believes, from the issuers file (JSON; deploy/README.md,
    "Identity"). `verifier` is the reading service: the audience a service token must
    be addressed to."""
    issuers = []
    for entry in json.loads(document)["issuers"]:
        keys = key_source(entry["jwks"], entry.get("ca_file"))
        default = SERVICE_TOKEN_MAX_LIFETIME if "service" in entry else max_lifetime
        lifetime = min(float(entry.get("max_lifetime_seconds", default)), max_lifetime)
        if "service" in entry:
            service = entry["service"]
            issuers.append(
                Issuer(
                    name=entry.get("issuer", service_issuer(service)),
                    keys=keys,
                    roles=frozenset({SERVICE}),
                    audience=service_audience(verifier),
                    service=service,
                    max_lifetime=lifetime,
                )
            )
            continue
        claim = entry.get("role_claim", "role")
        roles = frozenset(entry["roles"])
        if SERVICE in roles or not roles <= ROLES:
            raise ValueError(f"issuer {entry['issuer']}: roles are patient, doctor or admin")
        issuers.append(
            Issuer(
                name=entry["issuer"],
                keys=keys,
                roles=roles,
                audience=entry["audience"],
                role_claim=(claim,) if isinstance(claim, str) else tuple(claim),
                role_names=dict(entry.get("role_names", {})),
                max_lifetime=lifetime,
            )
        )
    names = [issuer.name for issuer in issuers]
    if len(set(names)) != len(names):
        raise ValueError("an issuer is listed twice")
    return issuers


class TokenVerifier:
    """A token is believed when a known issuer signed it with a key it publishes, for
    this service's audience, naming a subject and a role that issuer may assert, and
    living no longer than that issuer's tokens may."""

    def __init__(self, issuers: Iterable[Issuer], leeway: float = 5.0) -> None:
        self._issuers = {issuer.name: issuer for issuer in issuers}
        self._leeway = leeway

    def _issuer_of(self, token: str) -> tuple[Issuer, object]:
        try:
            # Parsed once, unverified, only to find whose keys verify it next.
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
            key_id = unverified["header"].get("kid")
            named = unverified["payload"].get("iss")
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        issuer = self._issuers.get(named) if isinstance(named, str) else None
        if issuer is None:
            raise Unauthenticated(f"token from an unknown issuer {named!r}")
        return issuer, key_id

    async def verify(self, metadata: Mapping[str, str]) -> Caller:
        header = metadata.get("authorization")
        if not header:
            raise Unauthenticated("missing bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'")
        issuer, key_id = self._issuer_of(token)
        try:
            key = await issuer.keys.key_for(key_id)
        except UnknownKey:
            raise Unauthenticated(f"token signed with an unknown key {key_id!r}") from None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=issuer.audience,
                issuer=issuer.name,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        # Claims of the wrong type are a bad token, never a server error.
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthenticated("token names no subject")
        role = issuer.role_of(claims)
        if issuer.service is not None and subject != issuer.service:
            raise Unauthenticated(f"issuer {issuer.name} may only name {issuer.service}")
        lifetime = claims["exp"] - claims["iat"]
        if not isinstance(lifetime, int | float) or lifetime > issuer.max_lifetime:
            raise Unauthenticated(
                f"token lives longer than the {issuer.max_lifetime:g} s its issuer's may"
            )
        return Caller(subject=subject, role=role, expires_at=float(claims["exp"]))


def viewing_patient() -> str | None:
    """Whose records the caller of this RPC sees: a patient only their own (their id);
    None for the roles that may see any patient's."""
    caller = current_caller()
    return caller.subject if caller.is_(PATIENT) else None


def call_origin(context) -> tuple[str, str]:
    """The calling client's network address and agent, as the call carried them: kept for
    audit trails, never trusted for access (a proxy in between may set either)."""
    agent = dict(context.invocation_metadata() or ()).get("user-agent", "")
    return context.peer() or "", agent


def authorize(caller: Caller, allowed: frozenset[str] | None, method: str) -> None:
    if allowed is None or caller.grant not in allowed:
        who = f"service {caller.subject}" if caller.is_(SERVICE) else f"role {caller.role}"
        raise PermissionDenied(f"{who} may not call {method}")


def mint_token(
    keys: TokenKeys,
    *,
    issuer: str,
    audience: str,
    subject: str,
    ttl: float,
    claims: Mapping[str, object],
) -> str:
    """Sign a token with `keys`: a service for its own calls, the development identity
    provider (stack/identity.py) for users."""
    if keys.signing_key is None:
        raise RuntimeError("no signing key configured (NOBAT_SERVICE_SIGNING_KEY)")
    now = int(time.time())
    payload = {
        **claims,
        "sub": subject,
        "aud": audience,
        "iss": issuer,
        "iat": now,
        "exp": now + int(ttl),
    }
    headers = {"kid": keys.key_id} if keys.key_id else None
    return jwt.encode(payload, keys.signing_key, algorithm=keys.algorithm, headers=headers)


class ServiceToken:
    """A service's own token for calling `callee`, re-minted shortly before it expires."""

    def __init__(self, keys: TokenKeys, service: str, callee: str, ttl: float = 300.0) -> None:
        self._keys = keys
        self._service = service
        self._callee = callee
        self._ttl = ttl
        self._token = ""
        self._renew_at = 0.0

    def __call__(self) -> str:
        now = time.monotonic()
        if now >= self._renew_at:
            self._token = mint_token(
                self._keys,
                issuer=service_issuer(self._service),
                audience=service_audience(self._callee),
                subject=self._service,
                ttl=self._ttl,
                claims={"role": SERVICE},
            )
            self._renew_at = now + self._ttl / 2
        return self._token
