"""Where a payment gateway may send a patient's browser back to: the clinic's own apps.

The gateway appends the checkout session's id to the return URL and the browser follows
it, so a return URL on someone else's host hands them the session (an open redirect in
the middle of a payment). Every RPC that takes a return URL checks it here, before any
handler runs, against the hosts an operator allow-listed (NOBAT_RETURN_URL_HOSTS); each
service's default return URL is checked the same way when it starts, so a placeholder
cannot reach production.

Outside development a return URL is https and no allowed host is local; in development
(runtime.config.DEVELOPMENT, which only the local stack sets) plain http and localhost
are accepted too, and the allow-list still applies.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from runtime.config import InvalidSetting
from runtime.errors import InvalidArgument
from runtime.urls import UnusableUrl, web_url

HOSTS_SETTING = "NOBAT_RETURN_URL_HOSTS"
# A host name, or "*." and one for any name below it (not the name itself).
_HOST_ENTRY = re.compile(r"(\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})*")


@dataclass(frozen=True)
class ReturnUrls:
    """The allow-list of hosts a return URL may name, and whether plain http may."""

    hosts: frozenset[str] = frozenset()
    development: bool = False

    @classmethod
    def parse(cls, hosts: str, *, development: bool, setting: str = HOSTS_SETTING) -> ReturnUrls:
        """The allow-list from `setting`'s comma-separated host names."""
        entries = [entry.strip().lower().rstrip(".") for entry in hosts.split(",")]
        entries = [entry for entry in entries if entry]
        if not entries:
            raise InvalidSetting(setting, hosts, "name at least one host of the clinic's apps")
        for entry in entries:
            if not _HOST_ENTRY.fullmatch(entry) and not _is_ip(entry):
                raise InvalidSetting(setting, hosts, f"{entry!r} is not a host name")
            if not development and _is_local(entry.removeprefix("*.")):
                raise InvalidSetting(setting, hosts, f"{entry} is for development only")
        return cls(frozenset(entries), development)

    def checked(self, url: str, field: str = "return_url") -> str:
        """`url` as given, or INVALID_ARGUMENT on `field`; "" (the service's default) passes."""
        problem = self.problem(url) if url else ""
        if problem:
            raise InvalidArgument(field, problem)
        return url

    def default(self, setting: str, url: str) -> str:
        """A service's own default return URL, held to what callers are held to."""
        problem = self.problem(url) if url else "is required"
        if problem:
            raise InvalidSetting(setting, url, problem)
        return url

    def problem(self, url: str) -> str:
        """Why `url` may not be a return URL, or "" when it may."""
        try:
            parts = web_url(url, development=self.development, like=f"https://{self._example}/")
        except UnusableUrl as unusable:
            return str(unusable)
        assert parts.hostname is not None
        if not self.allows(parts.hostname.rstrip(".")):
            return f"must be on an allowed host: {', '.join(sorted(self.hosts)) or 'none set'}"
        return ""

    def allows(self, host: str) -> bool:
        return host in self.hosts or any(
            entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.hosts
        )

    @property
    def _example(self) -> str:
        named = sorted(entry for entry in self.hosts if not entry.startswith("*."))
        return named[0] if named else "app.example.com"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    return _is_ip(host) and not ipaddress.ip_address(host).is_global
