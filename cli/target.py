"""Which nobat `nobat status` and `nobat check` look at: the local stack `make run`
describes in .data/stack.json, or a cluster's addresses given as flags or variables.

A flag wins over its variable; either wins over the manifest, which is read only when
neither names a database, NATS or a service. TLS is runtime.tls's, from the same
NOBAT_TLS_* variables the services read (or the flags that stand for them), so a Job
can mount the certificates as a server does.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cli.calls import CliError
from cli.manifest import load_manifest
from runtime.config import Env
from runtime.tls import TlsSettings

SERVICES = ("payment", "booking", "consultation", "notification")
NATS_VARIABLE = "NOBAT_CHECK_NATS_URL"
# The flags that stand for runtime.tls's variables.
TLS_FLAGS = {
    "tls_cert": "NOBAT_TLS_CERT_FILE",
    "tls_key": "NOBAT_TLS_KEY_FILE",
    "tls_ca": "NOBAT_TLS_CA_FILE",
    "database_ca": "NOBAT_TLS_DATABASE_CA_FILE",
}


def database_variable(service: str) -> str:
    return f"NOBAT_CHECK_{service.upper()}_DATABASE_URL"


def address_variable(service: str) -> str:
    return f"NOBAT_CHECK_{service.upper()}_ADDRESS"


@dataclass(frozen=True)
class Target:
    databases: Mapping[str, str] = field(default_factory=dict)
    nats: str | None = None
    services: Mapping[str, str] = field(default_factory=dict)
    tls: TlsSettings = field(default_factory=TlsSettings)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group(
        "a cluster", "instead of the local stack's manifest (variables in brackets)"
    )
    where.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="a service's database URL, repeatable [NOBAT_CHECK_<SERVICE>_DATABASE_URL]",
    )
    where.add_argument("--nats", metavar="URL", help=f"NATS, as the observer [{NATS_VARIABLE}]")
    where.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="SERVICE=ADDRESS",
        help="a service's gRPC host:port, repeatable [NOBAT_CHECK_<SERVICE>_ADDRESS]",
    )
    for flag, variable in TLS_FLAGS.items():
        where.add_argument(f"--{flag.replace('_', '-')}", metavar="FILE", help=f"[{variable}]")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Target:
    databases = _named(args.database, "--database", environ, database_variable)
    services = _named(args.service, "--service", environ, address_variable)
    nats = args.nats or environ.get(NATS_VARIABLE) or None
    settings = dict(environ)
    settings.update({v: getattr(args, f) for f, v in TLS_FLAGS.items() if getattr(args, f)})
    tls = TlsSettings.from_env(Env(settings))
    if databases or services or nats:
        return Target(databases, nats, services, tls)
    manifest = load_manifest(Path(args.manifest))
    return Target(manifest["databases"], manifest.get("nats"), manifest["services"], tls)


def _named(given: list[str], flag: str, environ: Mapping[str, str], variable) -> dict[str, str]:
    found = {s: environ[variable(s)] for s in SERVICES if environ.get(variable(s))}
    for pair in given:
        service, _, value = pair.partition("=")
        if service not in SERVICES or not value:
            raise CliError(f"{flag} takes SERVICE=VALUE, SERVICE one of {', '.join(SERVICES)}")
        found[service] = value
    return found
