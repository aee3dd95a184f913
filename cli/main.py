"""`nobat`: drive a running nobat from the command line.

It finds the services through the manifest `make run` writes (.data/stack.json) and
signs tokens with the development keys kept beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runtime.auth import ROLES, TokenKeys, mint_token

DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / ".data" / "stack.json"


def load_manifest(path: Path) -> dict:
    if not path.exists():
        sys.exit(f"no running nobat found ({path} is missing): start one with `make run`")
    return json.loads(path.read_text())


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


def token(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    keys = TokenKeys(**json.loads(Path(manifest["keys"]).read_text()))
    print(mint_token(keys, args.subject, args.role, args.ttl))
    return 0


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
    minting = commands.add_parser("token", help="a development bearer token, e.g. for grpcurl")
    minting.add_argument("--role", choices=sorted(ROLES), required=True)
    minting.add_argument("--subject", required=True, help="the user or service id")
    minting.add_argument("--ttl", type=float, default=3600, help="seconds (default 3600)")
    minting.set_defaults(run=token)
    args = parser.parse_args(argv)
    sys.exit(args.run(args))
