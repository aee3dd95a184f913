"""Verifying keys from an identity provider's JWKS endpoint, over real HTTPS, and from files."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
from aiohttp import web

from runtime.jwks import JwksFile, JwksUrl, UnknownKey, key_source
from stack.certs import LocalAuthority
from stack.identity import generate_token_keys, public_jwk
from stack.ports import free_port


class Provider:
    """An HTTPS JWKS endpoint whose keys the test changes, counting the fetches."""

    def __init__(self, authority: LocalAuthority) -> None:
        self.keys = [generate_token_keys(key_id="2026-12")]
        self.fetches = 0
        self.down = False
        files = authority.issue("idp")
        self.ca_file = str(files.ca)
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(files.cert, files.key)
        self.port = free_port()
        self.url = f"https://localhost:{self.port}/realms/clinic/certs"

    async def _certs(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.down:
            return web.Response(status=503)
        return web.json_response({"keys": [public_jwk(key) for key in self.keys]})

    async def __aenter__(self) -> Provider:
        app = web.Application()
        app.router.add_get("/realms/clinic/certs", self._certs)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._tls).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


@pytest.fixture
async def provider(tmp_path: Path):
    async with Provider(LocalAuthority(tmp_path / "ca")) as provider:
        yield provider


async def test_keys_come_from_the_providers_https_endpoint_and_follow_its_rotation(provider):
    keys = JwksUrl(provider.url, ca_file=provider.ca_file, refetch_unknown_after=0)
    assert (await keys.key_for("2026-12")).key_id == "2026-12"
    # The provider publishes its next key: a token naming it makes the keys fetched again.
    provider.keys.append(generate_token_keys(key_id="2027-01"))
    assert (await keys.key_for("2027-01")).key_id == "2027-01"
    assert provider.fetches == 2


async def test_made_up_key_ids_do_not_make_nobat_hammer_the_provider(provider):
    keys = JwksUrl(provider.url, ca_file=provider.ca_file)
    assert await keys.key_for("2026-12")
    for made_up in range(50):
        with pytest.raises(UnknownKey):
            await keys.key_for(f"forged-{made_up}")
    # Fetched once more at most each 30 seconds (and every 5 minutes anyway).
    assert provider.fetches == 1


async def test_a_provider_that_fails_leaves_the_keys_it_gave(provider):
    keys = JwksUrl(provider.url, ca_file=provider.ca_file, refresh_every=0)
    assert await keys.key_for("2026-12")
    provider.down = True
    assert (await keys.key_for("2026-12")).key_id == "2026-12"
    assert provider.fetches == 2


async def test_a_provider_whose_certificate_is_not_trusted_gives_no_keys(provider, tmp_path):
    stranger = LocalAuthority(tmp_path / "other-ca")
    keys = JwksUrl(provider.url, ca_file=str(stranger.ca_file))
    with pytest.raises(UnknownKey):
        await keys.key_for("2026-12")
    assert provider.fetches == 0  # the handshake failed before any request


def test_keys_are_fetched_over_https_only():
    with pytest.raises(ValueError, match="https"):
        key_source("http://id.clinic.example/certs")
    assert isinstance(key_source("/etc/nobat/identity/booking.jwks.json"), JwksFile)


async def test_a_file_offers_only_public_keys_with_an_id(tmp_path):
    signing = generate_token_keys(key_id="booking-1")
    path = tmp_path / "booking.jwks.json"
    shared_secret = {"kty": "oct", "k": "c2VjcmV0", "kid": "hs", "alg": "HS256"}
    unnamed = public_jwk(generate_token_keys()) | {"kid": ""}
    path.write_text(json.dumps({"keys": [public_jwk(signing), shared_secret, unnamed]}))
    keys = JwksFile(str(path))
    assert (await keys.key_for("booking-1")).key_id == "booking-1"
    with pytest.raises(UnknownKey):
        await keys.key_for("hs")
    # One usable key: a token naming none is checked with it.
    assert (await keys.key_for(None)).key_id == "booking-1"
