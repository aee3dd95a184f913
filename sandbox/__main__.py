"""`python -m sandbox --port P --api-key K --webhook-secret S --webhook-url URL`"""

from __future__ import annotations

import argparse
import json
import logging
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
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
    # Requests in flight get a moment to finish; webhook deliveries are simply cancelled.
    web.run_app(
        app, host=args.host, port=args.port, shutdown_timeout=2.0, access_log_class=_AccessLog
    )


if __name__ == "__main__":
    main()
