"""Embedded PostgreSQL and NATS servers, and the sandbox gateway, for `make run` and tests.

Servers are child processes of the Python process that starts them and are stopped by
the kernel when it dies (see `stack._process`). Start them from the main thread.
"""

from stack._process import StackError
from stack.nats import EmbeddedNats
from stack.ports import PortInUseError, free_port
from stack.postgres import EmbeddedPostgres
from stack.sandbox import SandboxGateway

__all__ = [
    "EmbeddedNats",
    "EmbeddedPostgres",
    "PortInUseError",
    "SandboxGateway",
    "StackError",
    "free_port",
]
