"""`nobat`: drive a running nobat from the command line.

It finds the services through the manifest `make run` writes (.data/stack.json) and
signs users' tokens as the stack's stand-in identity provider does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli import bookings, consultations, invariants, notifications, payments
from cli.calls import CliError
from cli.manifest import DEFAULT_MANIFEST, load_manifest, token_for
from runtime.errors import DomainError
from stack.identity import PROVIDER_ROLES as ROLES


def status(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    healthy = True
    for name, address in manifest["services"].items():
        try:
            with grpc.insecure_channel(address) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                )
            state = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as exc:
            state = f"unreachable ({exc.code().name})"
        healthy &= state == "SERVING"
        print(f"{name:<13} {address:<17} {state}")
    return 0 if healthy else 1


def check(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    violations = asyncio.run(invariants.check(manifest["databases"], manifest.get("nats")))
    for violation in violations:
        print(violation)
    print(f"{len(violations)} violations" if violations else "every invariant holds")
    return 1 if violations else 0


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
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="health of each service").set_defaults(run=status)
    commands.add_parser(
        "check", help="every invariant, read from the databases and streams"
    ).set_defaults(run=check)
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
    except (grpc.RpcError, DomainError, CliError) as exc:
        print(f"error: {_failure(exc)}", file=sys.stderr)
        code = 1
    sys.exit(code)
