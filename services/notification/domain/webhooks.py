"""Where a user's webhook may point: a public address on the internet, and nothing inside.

Notification POSTs to a URL its user chose, from a server inside the clinic's network. A
URL naming somewhere inside (a private network, loopback, the cloud's metadata service,
the cluster's own service names) would make each delivery a request to whatever listens
there, and its errors a map of it. So an address is judged twice: by its text when it is
registered (here), and by the addresses its name resolves to when a delivery connects
(adapters/senders.py), since a name that was public may resolve inside later.

IPv4 is taken only as four decimal numbers: resolvers also read 127.1, 0x7f000001,
2130706433 and 0177.0.0.1 as 127.0.0.1. Development (the local stack and tests) may use
plain http and loopback, for a receiver on the same machine; never anything else inside.
"""

from __future__ import annotations

import ipaddress
import re

from runtime.urls import UnusableUrl, web_url

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names only a cluster's, a cloud's or an office network's own resolver answers.
_INTERNAL_SUFFIXES = (
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".lan",
    ".corp",
    ".svc",
    ".consul",
    ".arpa",
)
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# IPv6 prefixes that carry an IPv4 address the network translates to (RFC 6052, 8215).
_TRANSLATED = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# A label a resolver may read as a number: decimal, octal or hex.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")


def webhook_problem(address: str, *, development: bool = False) -> str:
    """Why `address` cannot be a webhook, or "" when it can."""
    try:
        url = web_url(address, development=development, like="https://example.com/hooks/nobat")
    except UnusableUrl as unusable:
        return str(unusable)
    if url.fragment:
        return "must not carry a fragment"
    assert url.hostname is not None
    return host_problem(url.hostname, development=development)


def host_problem(host: str, *, development: bool = False) -> str:
    """Why a webhook may not go to `host` (a name or an IP address), or ""."""
    host = host.lower().rstrip(".")
    literal = _ip_literal(host)
    if literal is not None:
        why = refusal(literal, development=development)
        return f"must be a public internet address; {host} {why}" if why else ""
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return "must write an IP address as four decimal numbers, like 203.0.113.7"
    if host == "localhost" or host.endswith(".localhost"):
        return "" if development else "must be a public internet address, not this machine"
    if "." not in host or host.endswith(_INTERNAL_SUFFIXES):
        return "must be a public internet host name, not a name inside a network"
    return ""


def refusal(ip: IpAddress, *, development: bool = False) -> str:
    """What makes `ip` an address a webhook may not reach, or "" for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "is an IPv4-mapped IPv6 address; give the IPv4 address"
        if ip.sixtofour is not None or ip.teredo is not None or any(ip in n for n in _TRANSLATED):
            return "is an IPv6 address that carries an IPv4 one; give the IPv4 address"
    if ip in _METADATA:
        return "is the cloud metadata service"
    if ip.is_loopback:
        return "" if development else "is a loopback address"
    kinds = [
        (ip.is_unspecified, "is the unspecified address"),
        (ip.is_link_local, "is a link-local address"),
        (ip in _SHARED, "is in the shared address space (100.64.0.0/10)"),
        (ip.is_multicast, "is a multicast address"),
        (ip.is_private, "is in a private network"),
        (getattr(ip, "is_site_local", False), "is a site-local address"),
        (ip.is_reserved or not ip.is_global, "is a reserved address"),
    ]
    return next((why for applies, why in kinds if applies), "")


def _ip_literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
