"""`nobat`: drive a running nobat from the command line.

It finds the services through the manifest `make run` writes (.data/stack.json) and
signs users' tokens as the stack's stand-in identity provider does. `status` and `check`
also reach a cluster, given its addresses (cli.target; deploy/README.md, "Operators' CLI").
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli import bookings, consultations, invariants, notifications, payments
from cli.calls import CliError
from cli.manifest import DEFAULT_MANIFEST, load_manifest, token_for
from cli.target import add_target_arguments, resolve
from runtime.config import InvalidSetting
from runtime.errors import DomainError
from runtime.tls import TlsSettings
from stack.identity import PROVIDER_ROLES as ROLES


def status(args: argparse.Namespace) -> int:
    target = resolve(args)
    if not target.services:
        raise CliError("no service to ask: give --service SERVICE=ADDRESS (or a manifest)")
    answers = [
        {"service": name, "address": address, "status": _health(address, target.tls)}
        for name, address in target.services.items()
    ]
    healthy = all(answer["status"] == "SERVING" for answer in answers)
    if args.json:
        print(json.dumps({"healthy": healthy, "services": answers}))
    for answer in answers if not args.json else ():
        print(f"{answer['service']:<13} {answer['address']:<17} {answer['status']}")
    return 0 if healthy else 1


def _health(address: str, tls: TlsSettings) -> str:
    """grpc.health.v1's answer for the server as a whole, or why there was none."""
    if tls.identity is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, tls.identity.channel_credentials())
    try:
        with channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.RpcError as exc:
        return f"unreachable ({exc.code().name})"


def check(args: argparse.Namespace) -> int:
    target = resolve(args)
    if "payment" not in target.databases:
        raise CliError("check reads payment's database at least: give --database payment=URL")
    violations = asyncio.run(invariants.check(target.databases, target.nats, target.tls))
    if args.json:
        found = [violation.as_json() for violation in violations]
        print(json.dumps({"holds": not violations, "violations": found}))
    else:
        for violation in violations:
            print(violation)
        print(f"{len(violations)} violations" if violations else "every invariant holds")
    return 1 if violations else 0


def version() -> str:
    """The installed nobat's version (pyproject.toml's, through the package metadata)."""
    try:
        return importlib.metadata.version("nobat")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def token(args: argparse.Namespace) -> int:
    print(token_for(load_manifest(args.manifest), args.subject, args.role, args.ttl))
    return 0


def _failure(exc: Exception) -> str:
    """One line for a failure the user can act on: the service's status code and message."""
    if isinstance(exc, grpc.RpcError):
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
        return f"{code.name if code else 'UNKNOWN'}: {details}"
    if isinstance(exc, DomainError):  # input refused before it was sent, such as 1.234 USD
        return f"INVALID_ARGUMENT: {exc.message}"
    return str(exc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nobat", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--manifest",
        type=Path,
        default=DEFAULT_MANIFEST,
        help="the running stack (.data/stack.json)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    asking = commands.add_parser("status", help="health of each service")
    asking.set_defaults(run=status)
    checking = commands.add_parser(
        "check", help="every invariant, read from the databases and streams"
    )
    checking.set_defaults(run=check)
    for command in (asking, checking):
        add_target_arguments(command)
    minting = commands.add_parser(
        "token", help="a user's bearer token, as the identity provider signs it (for grpcurl)"
    )
    minting.add_argument("--role", choices=sorted(ROLES), required=True)
    minting.add_argument("--subject", required=True, help="the user's id")
    minting.add_argument("--ttl", type=float, default=3600, help="seconds (default 3600)")
    minting.set_defaults(run=token)
    payments.add_commands(commands)
    bookings.add_commands(commands)
    consultations.add_commands(commands)
    notifications.add_commands(commands)
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
    except (grpc.RpcError, DomainError, CliError, InvalidSetting) as exc:
        print(f"error: {_failure(exc)}", file=sys.stderr)
        code = 1
    sys.exit(code)
