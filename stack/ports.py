"""Loopback TCP ports for embedded servers, and who holds one that is taken."""

from __future__ import annotations

import os
import random
import socket
from collections import deque
from pathlib import Path

from stack._process import StackError

# /proc/net/tcp's socket states worth naming.
_STATES = {"01": "a connection", "06": "a closed connection in TIME_WAIT", "0A": "a listener"}


class PortInUseError(StackError):
    """Another process already listens on the port a server was asked to use."""


# Where free ports are looked for: below the kernel's ephemeral range, so that no outgoing
# connection is given one between our choosing it and a server binding it, and clear of
# `make run`'s fixed ports (stack/run.py).
_LOWEST = 20000
_MAKE_RUN = range(30000, 30200)


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _slice(lowest: int, highest: int) -> tuple[int, int]:
    """The part of [lowest, highest) this process draws from. Each worker of a parallel
    test run (pytest-xdist's PYTEST_XDIST_WORKER=gwN of PYTEST_XDIST_WORKER_COUNT) has a
    slice of its own, so one worker never takes a port that another's stack let go for a
    moment (a service restarted on its ports) and is about to bind again."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    try:
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        index = int(worker.removeprefix("gw")) if worker.startswith("gw") else 0
    except ValueError:
        return lowest, highest
    if count <= 1 or not 0 <= index < count:
        return lowest, highest
    width = (highest - lowest) // count
    return lowest + index * width, lowest + (index + 1) * width


# The ports this process handed out lately: a server given one may not have bound it yet
# when the next is asked for, and the bind test below would find it free a second time.
_handed_out: deque[int] = deque(maxlen=512)


def free_port() -> int:
    """Return a TCP port that nothing is bound to right now, on every address.

    The port is released before returning; it lies outside the range the kernel hands to
    outgoing connections, so only another server choosing it too could take it first, and
    servers report that case as `PortInUseError` when they start.
    """
    lowest, highest = _slice(_LOWEST, _ephemeral_start())
    for _ in range(50 if highest > lowest else 0):
        port = random.randrange(lowest, highest)
        if port in _MAKE_RUN or port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
        _handed_out.append(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        found: int = sock.getsockname()[1]
        return found


def ensure_port_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    """Raise `PortInUseError`, in one line naming the holder, if `port` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR as well, so a port left in TIME_WAIT by a server
        # we just stopped must count as free; only a live socket makes this fail.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            holder = port_holder(port)
            raise PortInUseError(
                f"{what}: port {port} is already in use"
                + (f" by {holder}" if holder else f" ({exc.strerror})")
            ) from None


def port_holder(port: int) -> str | None:
    """Who holds local TCP `port`, as far as this user may see: "pid 12 (nats-server -js …)",
    or the kind of socket when its process is not ours to see; None off Linux."""
    sockets: dict[str, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                sockets.setdefault(fields[3], set()).add(fields[9])
    if not sockets:
        return None
    for state in ("0A", "01"):
        for inode in sockets.get(state, set()) - {"0"}:
            owner = _process_with_socket(inode)
            if owner:
                return f"{owner}, {_STATES[state]}"
    state = "0A" if "0A" in sockets else next(iter(sorted(sockets)))
    return _STATES.get(state, f"a socket in state {state}")


def _process_with_socket(inode: str) -> str | None:
    target = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                command = " ".join((entry / "cmdline").read_bytes().decode().split("\0"))
                return f"pid {entry.name} ({' '.join(command.split())[:80]})"
        except OSError:
            continue
    return None
