"""`python -m sandbox --port P --api-key K --webhook-secret S --webhook-url URL`"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import time
from collections.abc import Sequence

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from sandbox.app import SandboxConfig, build_app
from sandbox.objects import Clock


class _AccessLog(AbstractAccessLogger):
    """One line a request: who asked, what, the status and the body's size. aiohttp's
    default format renders each field through a formatter of its own and a time stamp
    of its own on top of the record's, a good share of a request's CPU here."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %d %d',
            request.remote,
            request.method,
            request.path_qs,
            response.status,
            response.body_length,
        )


class _Formatter(logging.Formatter):
    """logging's own format, its time stamp's date and time rendered once a second rather
    than once a record: a request or a webhook logs a line or two."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
        return f"{self._stamp},{int(record.msecs):03d}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="A Stripe-compatible sandbox payment gateway."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True, help="the secret key clients must send")
    parser.add_argument("--webhook-secret", required=True, help="the key webhooks are signed with")
    parser.add_argument("--webhook-url", required=True, help="where webhooks are sent")
    parser.add_argument("--public-url", help="where browsers reach the sandbox (http://HOST:PORT)")
    parser.add_argument(
        "--webhook-retry-for", type=float, default=3600.0, help="seconds to retry a webhook"
    )
    parser.add_argument(
        "--min-expiry-seconds", type=int, default=1800, help="least lifetime of a session"
    )
    parser.add_argument(
        "--clock-shift",
        type=float,
        default=0.0,
        help="seconds to move the clock by, as the services' NOBAT_CLOCK_SHIFT_SECONDS (tests)",
    )
    parser.add_argument(
        "--enabled-events",
        default="*",
        help="comma-separated event types the webhook endpoint is sent (default *, all)",
    )
    parser.add_argument(
        "--switches", type=json.loads, default={}, help="JSON, e.g. '{\"duplicate\": 2}'"
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # What the format above does not print, each record need not look up (the logging
    # documentation's "Optimization"): the caller's frame, thread and process.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if not isinstance(args.switches, dict):
        parser.error("--switches must be a JSON object")
    config = SandboxConfig(
        api_key=args.api_key,
        webhook_secret=args.webhook_secret,
        webhook_url=args.webhook_url,
        public_url=args.public_url or f"http://{args.host}:{args.port}",
        webhook_retry_for=args.webhook_retry_for,
        min_expiry_seconds=args.min_expiry_seconds,
        switches=args.switches,
        enabled_events=[name.strip() for name in args.enabled_events.split(",") if name.strip()],
        clock=Clock(args.clock_shift),
    )
    try:
        app = build_app(config)
    except ValueError as exc:
        parser.error(f"--switches: {exc}")
    # What is made by now (modules, classes, the app) lives as long as the process: the
    # collector's full passes, which come more often the longer deliveries wait, skip it.
    gc.freeze()
    # Requests in flight get a moment to finish; webhook deliveries are simply cancelled.
    web.run_app(
        app, host=args.host, port=args.port, shutdown_timeout=2.0, access_log_class=_AccessLog
    )


if __name__ == "__main__":
    main()
