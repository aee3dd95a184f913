"""What every verb shares: acting as one caller (`--as ROLE:SUBJECT`) with a token signed
by the stack's keys, calling one service (and reading its streams), waiting on what it
says, printing its reply as text or `--json`, and the one-line failure (`CliError`)."""

from __future__ import annotations

import argparse
import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from nobat.common.v1 import checkout_pb2

from cli import render
from cli.manifest import load_manifest, token_for
from stack.identity import PROVIDER_ROLES as ROLES

RPC_TIMEOUT = 10.0
AWAITING_PAYMENT = checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT
# How often `--watch` asks after a checkout.
WATCH_INTERVAL = 0.2
M = TypeVar("M", bound=Message)
# A proto enum's value type (its generated ValueType).
V = TypeVar("V", bound=int)

if TYPE_CHECKING:
    # The stubs' generic enum wrapper (render.choices takes it too); only in the stubs.
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper


class CliError(Exception):
    """A failure to report in one line (`error: …`), exit status 1."""


def caller(text: str) -> tuple[str, str]:
    """`patient:patient-1` as (role, subject)."""
    role, _, subject = text.partition(":")
    if role not in ROLES or not subject:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ROLE:SUBJECT with ROLE one of {', '.join(sorted(ROLES))}"
        )
    return role, subject


class Connection:
    """One service as one caller: `call(method, request)` asks and waits for the answer,
    `call.stream(method, request)` reads a server stream."""

    def __init__(self, stub: object, metadata: tuple) -> None:
        self.stub = stub
        self.metadata = metadata
        self.streams: list[grpc.Future] = []

    def __call__(self, method: str, request: Message) -> Any:
        """The reply of the RPC the stub has by the name `method`: found by name, so its
        type is not known here (each verb knows which reply it asked for)."""
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=RPC_TIMEOUT)

    def stream(self, method: str, request: Message, quiet: float | None = None) -> Iterator:
        """The stream's replies as they come: with `quiet`, until none has come for that
        many seconds; without, until the server ends it. Ctrl-C (KeyboardInterrupt) reaches
        the caller at once; the stream is cancelled when the connection closes."""
        replies = getattr(self.stub, method)(request, metadata=self.metadata)
        self.streams.append(replies)
        # Read on a thread, so that the wait for the next reply can time out.
        arrived: queue.Queue = queue.Queue()
        ended = object()

        def read() -> None:
            try:
                for reply in replies:
                    arrived.put(reply)
            except grpc.RpcError as exc:
                arrived.put(exc)
            arrived.put(ended)

        threading.Thread(target=read, daemon=True).start()
        while True:
            try:
                reply = arrived.get(timeout=quiet)
            except queue.Empty:
                return
            if reply is ended:
                return
            if isinstance(reply, grpc.RpcError):
                raise reply
            yield reply

    def close(self) -> None:
        for replies in self.streams:
            replies.cancel()


# The name the verbs use for what `service` gives them.
Call = Connection


@contextlib.contextmanager
def service(
    args: argparse.Namespace, name: str, stub_type: type, manifest: dict | None = None
) -> Iterator[Connection]:
    """`call(method, request)` on the service `name`, as the caller `--as` names."""
    manifest = manifest or load_manifest(args.manifest)
    role, subject = args.caller
    metadata = (("authorization", f"Bearer {token_for(manifest, subject, role)}"),)
    with grpc.insecure_channel(manifest["services"][name]) as channel:
        connection = Connection(stub_type(channel), metadata)
        try:
            yield connection
        finally:
            connection.close()


def watched(ask: Callable[[], M], waiting: Callable[[M], bool], seconds: float, every: float) -> M:
    """What `ask()` answers once `waiting` no longer holds of it, or after `seconds`."""
    deadline = time.monotonic() + seconds
    answer = ask()
    while waiting(answer) and time.monotonic() < deadline:
        time.sleep(every)
        answer = ask()
    return answer


def watched_checkout(call: Connection, request: Message, seconds: float) -> Any:
    """The checkout GetCheckout answers (booking's or consultation's) once it is no longer
    awaiting payment, or after `seconds`."""
    return watched(
        lambda: call("GetCheckout", request).checkout,
        lambda checkout: checkout.status == AWAITING_PAYMENT,
        seconds,
        WATCH_INTERVAL,
    )


def watch_outcome(args: argparse.Namespace, checkout: Any) -> int:
    """The exit status of `--watch`: 1, saying so, when the checkout still awaits payment."""
    if args.watch and checkout.status == AWAITING_PAYMENT:
        if not args.json:
            print(f"still awaiting payment after {args.watch:g} s")
        return 1
    return 0


def fresh_key() -> str:
    """An idempotency key for one command: asking again is a new request."""
    return uuid.uuid4().hex


def show(args: argparse.Namespace, message: M, text: Callable[[M], str]) -> int:
    """Print `message` as protobuf JSON with --json, else as `text` puts it."""
    print(json_format.MessageToJson(message, indent=2) if args.json else text(message))
    return 0


def print_streamed(args: argparse.Namespace, message: M, text: Callable[[M], str]) -> None:
    """One message of a stream, as it comes: a line of protobuf JSON with --json."""
    printed = json_format.MessageToJson(message, indent=None) if args.json else text(message)
    print(printed, flush=True)


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


def as_caller(args: argparse.Namespace, default: str) -> str:
    """The `--as` to repeat in a command suggested to the caller: none for `default`."""
    role, subject = args.caller
    return "" if f"{role}:{subject}" == default else f" --as {role}:{subject}"


def status_filter(parser: argparse.ArgumentParser, enum: _EnumTypeWrapper[V]) -> None:
    """A List verb's `--status`, one of the enum's values as `render.choices` spells them."""
    statuses = render.choices(enum)
    parser.add_argument(
        "--status", choices=statuses, metavar="STATUS", help=f"one of {', '.join(statuses)}"
    )


def json_flag() -> argparse.ArgumentParser:
    """The parent parser of a verb that can print its reply as protobuf JSON."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="the reply as protobuf JSON")
    return parent
