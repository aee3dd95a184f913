"""A webhook may point at a public internet address only: every way of naming a place
inside the network (private, loopback, link-local, shared, metadata, reserved, mapped or
obfuscated) is refused when the contact is registered, naming the field."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from runtime.errors import InvalidArgument
from services.notification.domain.contact import Channel, Contact, ContactChannel, Locale
from services.notification.domain.webhooks import refusal, webhook_problem

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)

INSIDE = {
    "private 10/8": "https://10.0.0.1/",
    "private 172.16/12": "https://172.16.3.4/hook",
    "private 192.168/16": "https://192.168.1.1/hook",
    "loopback": "https://127.0.0.1/",
    "loopback, elsewhere in 127/8": "https://127.8.9.10:8443/hook",
    "IPv6 loopback": "https://[::1]/",
    "link-local": "https://169.254.10.20/",
    "IPv6 link-local": "https://[fe80::1]/",
    "IPv6 link-local with a zone": "https://[fe80::1%25eth0]/",
    "shared (carrier-grade NAT)": "https://100.64.0.1/",
    "cloud metadata": "https://169.254.169.254/latest/meta-data/",
    "cloud metadata over IPv6": "https://[fd00:ec2::254]/",
    "IPv6 unique local": "https://[fd12:3456::1]/",
    "IPv6 site-local": "https://[fec0::1]/",
    "multicast": "https://224.0.0.1/",
    "IPv6 multicast": "https://[ff02::1]/",
    "reserved 240/4": "https://240.0.0.1/",
    "broadcast": "https://255.255.255.255/",
    "unspecified": "https://0.0.0.0/",
    "this network 0/8": "https://0.1.2.3/",
    "documentation range": "https://192.0.2.10/",
    "benchmarking range": "https://198.18.0.1/",
    "IPv4-mapped loopback": "https://[::ffff:127.0.0.1]/",
    "IPv4-mapped private": "https://[::ffff:10.0.0.1]/",
    "IPv4-mapped public": "https://[::ffff:93.184.216.34]/",
    "NAT64 of loopback": "https://[64:ff9b::7f00:1]/",
    "6to4 of loopback": "https://[2002:7f00:1::1]/",
    "hex loopback": "https://0x7f000001/",
    "decimal loopback": "https://2130706433/",
    "short loopback": "https://127.1/",
    "octal loopback": "https://0177.0.0.1/",
    "hex dotted": "https://0x7f.0.0.1/",
    "octal private": "https://012.0.0.1/",
    "localhost": "https://localhost/hook",
    "a name under localhost": "https://api.localhost/hook",
    "a cluster service": "https://kubernetes.default.svc/",
    "a cluster service in full": "https://kubernetes.default.svc.cluster.local/",
    "a cloud's internal name": "https://metadata.google.internal/computeMetadata/v1/",
    "an mDNS name": "https://printer.local/",
    "a single label": "https://metadata/",
    "a reverse-lookup name": "https://1.0.0.127.in-addr.arpa/",
}


@pytest.mark.parametrize("url", INSIDE.values(), ids=INSIDE.keys())
def test_an_address_inside_the_network_is_refused(url):
    assert webhook_problem(url)


@pytest.mark.parametrize("url", INSIDE.values(), ids=INSIDE.keys())
def test_registering_one_is_invalid_argument_on_the_webhooks_address(url):
    with pytest.raises(InvalidArgument) as refused:
        Contact.register(
            user_id="patient-1",
            locale=Locale.EN,
            channels=(
                ContactChannel(Channel.EMAIL, "sara@example.com"),
                ContactChannel(Channel.WEBHOOK, url),
            ),
            now=NOW,
        )
    assert [field for field, _ in refused.value.violations] == ["channels[1].address"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.clinic.example/nobat?tenant=7",
        "https://hooks.clinic.example:8443/nobat",
        "https://93.184.216.34/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://xn--mgbh0fb.example/hook",
    ],
)
def test_a_public_address_passes(url):
    assert webhook_problem(url) == ""


def test_development_allows_plain_http_and_loopback_and_nothing_else_inside():
    for url in ("http://127.0.0.1:8080/hook", "http://[::1]:8080/hook", "http://localhost/hook"):
        assert webhook_problem(url, development=True) == ""
    for key in INSIDE.keys() - {
        "loopback",
        "loopback, elsewhere in 127/8",
        "IPv6 loopback",
        "localhost",
        "a name under localhost",
    }:
        assert webhook_problem(INSIDE[key], development=True), key


def test_the_refusal_says_what_the_address_is():
    assert "metadata" in webhook_problem("https://169.254.169.254/")
    assert "four decimal numbers" in webhook_problem("https://2130706433/")
    assert "mapped" in webhook_problem("https://[::ffff:127.0.0.1]/")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("10.1.2.3", False),
        ("100.127.255.255", False),
        ("169.254.169.254", False),
        ("fd00:ec2::254", False),
        ("::ffff:8.8.8.8", False),
        ("::", False),
    ],
)
def test_what_a_resolved_address_may_be(address, public):
    assert (refusal(ipaddress.ip_address(address)) == "") is public
