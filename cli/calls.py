"""What every verb shares: acting as one caller (`--as ROLE:SUBJECT`) with a token signed
by the stack's keys, calling one service, printing its reply as text or `--json`, and the
one-line failure (`CliError`)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from cli.manifest import load_manifest, token_for
from runtime.auth import ROLES

RPC_TIMEOUT = 10.0


class CliError(Exception):
    """A failure to report in one line (`error: …`), exit status 1."""


Call = Callable[[str, Message], Message]


def caller(text: str) -> tuple[str, str]:
    """`patient:patient-1` as (role, subject)."""
    role, _, subject = text.partition(":")
    if role not in ROLES or not subject:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ROLE:SUBJECT with ROLE one of {', '.join(sorted(ROLES))}"
        )
    return role, subject


@contextlib.contextmanager
def service(
    args: argparse.Namespace, name: str, stub_type: type, manifest: dict | None = None
) -> Iterator[Call]:
    """`call(method, request)` on the service `name`, as the caller `--as` names."""
    manifest = manifest or load_manifest(args.manifest)
    role, subject = args.caller
    metadata = (("authorization", f"Bearer {token_for(manifest, subject, role)}"),)
    with grpc.insecure_channel(manifest["services"][name]) as channel:
        stub = stub_type(channel)

        def call(method: str, request: Message) -> Message:
            return getattr(stub, method)(request, metadata=metadata, timeout=RPC_TIMEOUT)

        yield call


def show(args: argparse.Namespace, message: Message, text: Callable[[Message], str]) -> int:
    """Print `message` as protobuf JSON with --json, else as `text` puts it."""
    print(json_format.MessageToJson(message, indent=2) if args.json else text(message))
    return 0


def acting(default: str) -> argparse.ArgumentParser:
    """The parent parser of a verb that calls as `--as ROLE:SUBJECT` (default `default`)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--as",
        dest="caller",
        type=caller,
        default=caller(default),
        metavar="ROLE:SUBJECT",
        help=f"who calls (default {default})",
    )
    return parent


def json_flag() -> argparse.ArgumentParser:
    """The parent parser of a verb that can print its reply as protobuf JSON."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="the reply as protobuf JSON")
    return parent
