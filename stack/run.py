"""`make run`: nobat on this machine until Ctrl-C.

Data lives under .data/ (git-ignored), so reservations and payments survive a restart;
delete the folder to start afresh.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from runtime.instants import parse_instant
from stack._process import StackError, log_tail
from stack.local import ROOT, LocalStack
from stack.seed import seed

# Below the kernel's ephemeral ports (32768-60999 on Linux, 49152-65535 elsewhere), so
# that none of the stack's own outgoing connections can be holding one at start-up.
BASE_PORT = 30051


def main() -> None:
    # Overridable so that tests can run a second, throwaway copy beside a developer's.
    data_dir = Path(os.environ.get("NOBAT_RUN_DATA_DIR", ROOT / ".data"))
    base_port = int(os.environ.get("NOBAT_RUN_BASE_PORT", BASE_PORT)) or None
    # An instant for the stack's clock to start at (ISO 8601, in UTC): a DST night or a
    # leap day, tried now.
    at = os.environ.get("NOBAT_RUN_AT")
    stack = LocalStack(
        data_dir, base_port=base_port, at=parse_instant(at, "NOBAT_RUN_AT") if at else None
    )
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print("starting nobat: PostgreSQL, NATS JetStream, migrations, four services…", flush=True)
    try:
        stack.start()
    except StackError as exc:
        sys.exit(f"nobat did not start: {exc}")
    print()
    print("nobat is running. gRPC services (health and reflection on each):")
    for name, handle in stack.services.items():
        print(
            f"  {name:<13} {handle.address}   metrics http://127.0.0.1:{handle.metrics_port}/metrics"
        )
    if stack.postgres is not None:
        print(f"  postgresql    {stack.postgres.url()}")
    if stack.nats is not None:
        print(f"  nats          {stack.nats.url}")
    if stack.sandbox is not None:
        print(
            f"  sandbox       {stack.sandbox.url}   the payment gateway: checkout pages, webhooks"
        )
        print(f"  webhooks      {stack.webhook_url}   payment's endpoint for the gateway")
    try:
        seed(stack)
    except Exception as exc:  # demo data is a convenience: nobat serves without it
        print(f"warning: seeding the demo data failed, nobat runs without it: {exc}")
    print(
        f"logs: {_relative(stack.logs_dir)}/<service>.log    Ctrl-C stops everything.", flush=True
    )
    try:
        while not stopping:
            gone = stack.exited()
            if gone:
                for handle in gone:
                    # exited() names only services that were started and have ended.
                    assert handle.process is not None
                    print(f"\n{handle.name} exited ({handle.process.returncode}):")
                    print(log_tail(handle.log_path))
                break
            time.sleep(0.2)
    finally:
        print("\nstopping nobat…", flush=True)
        stack.stop()
        print("stopped.")


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


if __name__ == "__main__":
    main()
