"""Loopback TCP ports for embedded servers."""

import socket

from stack._process import StackError


class PortInUseError(StackError):
    """Another process already listens on the port a server was asked to use."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing is bound to right now.

    The port is released before returning, so another process can still take it;
    servers report that case as `PortInUseError` when they start.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_port_free(port: int, what: str) -> None:
    """Raise `PortInUseError` if `port` on 127.0.0.1 cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR as well, so a port left in TIME_WAIT by a server
        # we just stopped must count as free; only a live listener makes this fail.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUseError(
                f"{what}: 127.0.0.1:{port} is already in use ({exc.strerror}); "
                "stop whatever listens there or pass port=None to pick a free one"
            ) from None
