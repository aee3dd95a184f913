"""The sandbox payment gateway (`python -m sandbox`) as a child process on 127.0.0.1.

Started like the embedded servers: it dies with its owner, logs to a file of its own,
and `start()` returns once it answers HTTP.
"""

import json
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from services.payment.adapters.stripe_gateway import WEBHOOK_EVENTS
from stack._process import ServerProcess, answers_http, spawn, wait_ready
from stack.ports import ensure_port_free, free_port

ROOT = Path(__file__).resolve().parents[1]


class SandboxGateway(ServerProcess):
    """A Stripe-compatible gateway for `StripeGateway(base_url=sandbox.url)`.

    `webhook_url` is where its webhooks go, of the types in `enabled_events` (by default
    the ones nobat's endpoint is set up for on Stripe; ("*",) for every one); `switches`
    are its starting misbehaviours (see sandbox.switches), which its control API at
    `url + "/_sandbox"` can change.
    """

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        *,
        api_key: str,
        webhook_secret: str,
        webhook_url: str,
        public_url: str | None = None,
        webhook_retry_for: float = 3600.0,
        min_expiry_seconds: int = 1800,
        switches: Mapping[str, Any] | None = None,
        clock_shift: float = 0.0,
        enabled_events: Sequence[str] = WEBHOOK_EVENTS,
    ) -> None:
        self.log_dir = Path(log_dir).absolute()
        self.port = port or free_port()
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.public_url = public_url or self.url
        self.webhook_retry_for = webhook_retry_for
        self.min_expiry_seconds = min_expiry_seconds
        self.switches = dict(switches or {})
        self.clock_shift = clock_shift
        self.enabled_events = tuple(enabled_events)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / "sandbox.log"

    def start(self, timeout: float = 10.0) -> None:
        """Start the gateway and wait until it answers."""
        if self._alive():
            return
        ensure_port_free(self.port, "sandbox gateway")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(self.port),
            "--api-key",
            self.api_key,
            "--webhook-secret",
            self.webhook_secret,
            "--webhook-url",
            self.webhook_url,
            "--public-url",
            self.public_url,
            "--webhook-retry-for",
            str(self.webhook_retry_for),
            "--min-expiry-seconds",
            str(self.min_expiry_seconds),
            "--switches",
            json.dumps(self.switches),
            "--clock-shift",
            str(self.clock_shift),
            "--enabled-events",
            ",".join(self.enabled_events),
        ]
        # Run from the source tree, where the sandbox package lives: it is a development
        # tool, not part of the installed services.
        proc = spawn(cmd, signal.SIGTERM, self.log_path, cwd=ROOT)
        self._own(
            proc,
            lambda: wait_ready(
                proc,
                lambda: answers_http(self.port, "/_sandbox/stats"),
                f"sandbox gateway on {self.url}",
                self.log_path,
                timeout,
            ),
        )

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, SIGKILL after `timeout`. Idempotent."""
        self._end([(signal.SIGTERM, timeout)])
