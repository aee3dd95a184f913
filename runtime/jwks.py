"""Where an issuer's verifying keys come from: a JWKS file or an HTTPS URL, keys by `kid`.

Both change under a running service: the identity provider rotates its keys, cert-manager
or an operator replaces a service's. A file is read again when it changes; a URL is
fetched again every few minutes and, at most twice a minute, when a token names a key not
yet seen (a key just published), so a stream of made-up key ids cannot make nobat hammer
the identity provider. A source that cannot be read keeps the keys it had.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
import urllib.request

import jwt

log = logging.getLogger(__name__)

# Signatures anyone holding the JWKS could make are never accepted: only public-key ones.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class UnknownKey(LookupError):
    """The token names a key its issuer has not published (or names none, and the
    issuer has several)."""


def _parse(document: str) -> dict[str, jwt.PyJWK]:
    """The usable keys of a JWKS document, by kid; a key whose algorithm is unknown or
    symmetric is left out, not trusted with a guess."""
    keys = {}
    for key in jwt.PyJWKSet.from_json(document).keys:
        if key.algorithm_name in ASYMMETRIC and key.key_id:
            keys[key.key_id] = key
    return keys


class _Keys:
    """The keys last read, and the choice of one for a token."""

    def __init__(self) -> None:
        self.keys: dict[str, jwt.PyJWK] = {}

    def pick(self, key_id: object) -> jwt.PyJWK:
        if key_id is None and len(self.keys) == 1:
            # An issuer publishing one key may leave `kid` out of its tokens.
            return next(iter(self.keys.values()))
        found = self.keys.get(key_id) if isinstance(key_id, str) else None
        if found is None:
            raise UnknownKey(key_id)
        return found


class JwksFile(_Keys):
    """Keys from a JWKS file, read again whenever it changes (checked at most once a
    `recheck_every` seconds). A half-written or unreadable file keeps the keys as they were."""

    def __init__(self, path: str, recheck_every: float = 1.0) -> None:
        super().__init__()
        self._path = path
        self._recheck_every = recheck_every
        self._checked_at = float("-inf")
        self._version: tuple[int, int] | None = None

    async def key_for(self, key_id: object) -> jwt.PyJWK:
        now = time.monotonic()
        if now - self._checked_at >= self._recheck_every:
            self._checked_at = now
            self._reload()
        return self.pick(key_id)

    def _reload(self) -> None:
        try:
            stat = os.stat(self._path)
            version = (stat.st_mtime_ns, stat.st_size)
            if version == self._version:
                return
            with open(self._path) as file:
                self.keys = _parse(file.read())
        except (OSError, ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
            log.warning("keeping the verifying keys: cannot read %s: %s", self._path, exc)
            return
        self._version = version


class JwksUrl(_Keys):
    """Keys from an identity provider's JWKS endpoint (HTTPS only: the keys decide who
    is who, and must not be swapped in transit)."""

    def __init__(
        self,
        url: str,
        *,
        ca_file: str | None = None,
        refresh_every: float = 300.0,
        refetch_unknown_after: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        super().__init__()
        if not url.startswith("https://"):
            raise ValueError(f"a JWKS URL must be https: {url!r}")
        self._url = url
        self._tls = ssl.create_default_context(cafile=ca_file)
        self._refresh_every = refresh_every
        self._refetch_unknown_after = refetch_unknown_after
        self._timeout = timeout
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key_for(self, key_id: object) -> jwt.PyJWK:
        if time.monotonic() - self._fetched_at >= self._refresh_every:
            await self._refresh(self._refresh_every)
        try:
            return self.pick(key_id)
        except UnknownKey:
            await self._refresh(self._refetch_unknown_after)
            return self.pick(key_id)

    async def _refresh(self, older_than: float) -> None:
        # One fetch at a time; callers that waited find the keys just fetched.
        async with self._lock:
            if time.monotonic() - self._fetched_at < older_than:
                return
            self._fetched_at = time.monotonic()
            try:
                document = await asyncio.to_thread(self._fetch)
                self.keys = _parse(document)
            except (OSError, ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
                log.warning("keeping the verifying keys: cannot fetch %s: %s", self._url, exc)

    def _fetch(self) -> str:
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=self._timeout, context=self._tls) as answer:
            return answer.read(1 << 20).decode()


def key_source(location: str, ca_file: str | None = None) -> JwksFile | JwksUrl:
    """A JWKS by its location: an https:// URL, or a file path."""
    if "://" in location:
        return JwksUrl(location, ca_file=ca_file)
    return JwksFile(location)
