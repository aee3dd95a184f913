"""The payment verbs: list and show payments, pay them on the sandbox gateway as a patient
would on its hosted page, the wallet, and doctors' payouts.

Each acts as one caller (`--as ROLE:SUBJECT`) with a token signed by the stack's keys, so
the payment service applies the same rules as to an app: a patient sees only their own.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlparse

from google.protobuf.message import Message
from nobat.common.v1 import money_pb2
from nobat.payment.v1 import payment_service_pb2 as pb
from nobat.payment.v1 import payment_service_pb2_grpc

from cli import render
from cli.calls import (
    RPC_TIMEOUT,
    Call,
    CliError,
    acting,
    fresh_key,
    json_flag,
    service,
    show,
    status_filter,
    watched,
)
from cli.manifest import load_manifest
from runtime.money import Money

PATIENT = "patient:patient-1"
DOCTOR = "doctor:doctor-1"
ADMIN = "admin:ops"
# Each ending of the sandbox's page as the control calls that make it, in order, and what
# is printed after them. A bank debit is two steps: `pay-later` leaves it processing, and
# `bank-pays` or `bank-refuses` settles it.
_PRESSES: dict[str, tuple[tuple[tuple[str, dict], ...], str]] = {
    "pay": ((("pay", {}),), "paid"),
    "decline": ((("decline", {}),), "declined"),
    "cancel": ((("cancel", {}),), "left"),
    "3ds-pass": ((("challenge", {}), ("authenticate", {"passed": True})), "authenticated and paid"),
    "3ds-fail": ((("challenge", {}), ("authenticate", {"passed": False})), "failed 3-D Secure on"),
    "pay-later": ((("pay_later", {}),), "paid by bank debit"),
    "bank-pays": ((("settle", {"outcome": "succeeded"}),), "the bank paid the debit of"),
    "bank-refuses": ((("settle", {"outcome": "failed"}),), "the bank refused the debit of"),
}
OUTCOMES = tuple(_PRESSES)
# What the sandbox's page does for Decline when the button names no code.
DEFAULT_DECLINE_CODE = "generic_decline"


def payment_service(
    args: argparse.Namespace, manifest: dict | None = None
) -> AbstractContextManager[Call]:
    """`call(method, request)` on the payment service, as the caller `--as` names."""
    return service(args, "payment", payment_service_pb2_grpc.PaymentServiceStub, manifest)


def _print_reply(
    args: argparse.Namespace,
    method: str,
    request: Message,
    text: Callable[[Any], str],
    part: str = "",
) -> int:
    """Ask, and print the reply (or its field `part`): as protobuf JSON with --json,
    else as `text` puts it."""
    with payment_service(args) as call:
        reply = call(method, request)
    return show(args, getattr(reply, part) if part else reply, text)


def list_payments(args: argparse.Namespace) -> int:
    request = pb.ListPaymentsRequest(
        patient_id=args.patient or "",
        status=render.value_of(pb.PaymentStatus, args.status),
        page_size=args.limit,
    )
    text = render.paged("payments", render.payments_table)
    return _print_reply(args, "ListPayments", request, text)


def show_payment(args: argparse.Namespace) -> int:
    request = pb.GetPaymentRequest(payment_id=args.payment_id)
    return _print_reply(args, "GetPayment", request, render.payment_text, "payment")


def payment_events(args: argparse.Namespace) -> int:
    request = pb.ListPaymentEventsRequest(payment_id=args.payment_id, page_size=args.limit)
    text = render.paged("events", render.payment_events_table, "first")
    return _print_reply(args, "ListPaymentEvents", request, text)


def _get(call: Call, payment_id: str) -> pb.Payment:
    return call("GetPayment", pb.GetPaymentRequest(payment_id=payment_id)).payment


class Sandbox:
    """The sandbox gateway's control API: the hosted page's buttons without a browser."""

    def __init__(self, url: str) -> None:
        if not url:
            raise CliError("this stack runs no sandbox gateway (no 'sandbox' in its manifest)")
        self.url = url.rstrip("/")

    def press(self, session_id: str, outcome: str, decline_code: str) -> str:
        """Does `outcome` on the session's page; what was done, in words."""
        steps, done = _PRESSES[outcome]
        for step, body in steps:
            if step == "decline":
                body = {"decline_code": decline_code}
            self._ask(f"checkout/{session_id}/{step}", body)
        return done

    def session(self, session_id: str) -> dict:
        return self._ask(f"sessions/{session_id}")

    def _ask(self, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/_sandbox/{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=RPC_TIMEOUT) as reply:
                return json.load(reply)
        except urllib.error.HTTPError as exc:
            raise CliError(f"sandbox: {_stripe_message(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"sandbox at {self.url} did not answer: {exc}") from None


def _stripe_message(exc: urllib.error.HTTPError) -> str:
    """The message of a Stripe-shaped error body, or the HTTP status."""
    try:
        return json.loads(exc.read())["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code} {exc.reason}"


def _target(text: str, sandbox: Sandbox) -> tuple[str, str]:
    """(payment id, checkout session id or "") of a payment id, session id or checkout URL."""
    session_id = urlparse(text).path.rstrip("/").rsplit("/", 1)[-1] if "://" in text else text
    if not session_id.startswith("cs_"):
        if "://" in text:
            raise CliError(f"{text} is not a checkout URL (…/checkout/cs_…)")
        return text, ""
    metadata = sandbox.session(session_id)["session"].get("metadata") or {}
    if not metadata.get("payment_id"):
        raise CliError(f"checkout {session_id} is not one of nobat's payments")
    return metadata["payment_id"], session_id


def _open_attempt(payment: pb.Payment) -> pb.PaymentAttempt | None:
    """The attempt waiting at the gateway, if the payment is waiting for one."""
    if payment.status != pb.PAYMENT_STATUS_PROCESSING or not payment.attempts:
        return None
    latest = payment.attempts[-1]
    pending = latest.status == pb.ATTEMPT_STATUS_PENDING and latest.gateway_ref
    return latest if pending else None


def pay(args: argparse.Namespace) -> int:
    if args.decline_code and args.outcome != "decline":
        raise CliError("--decline-code goes with --outcome decline")
    manifest = load_manifest(args.manifest)
    sandbox = Sandbox(manifest.get("sandbox", ""))
    payment_id, session_id = _target(args.target, sandbox)
    with payment_service(args, manifest) as call:
        payment = _get(call, payment_id)
        attempt = _open_attempt(payment)
        if attempt is None:
            raise CliError(
                f"payment {payment.id} has no open checkout: it is "
                + render.label(pb.PaymentStatus, payment.status)
            )
        if session_id and session_id != attempt.gateway_ref:
            raise CliError(
                f"checkout {session_id} is not the open one of payment {payment.id}"
                f" ({attempt.gateway_ref})"
            )
        code = args.decline_code or DEFAULT_DECLINE_CODE
        done = sandbox.press(attempt.gateway_ref, args.outcome, code)
        if args.outcome == "cancel":
            # As on Stripe, Cancel only leads back to nobat: nothing settles, so nothing
            # is waited for.
            print(
                f"left checkout {attempt.gateway_ref} of payment {payment.id}; it stays open"
                " until it expires or the payment is retried"
            )
            return 0
        print(f"{done} checkout {attempt.gateway_ref} of payment {payment.id}")
        if args.outcome == "pay-later":
            # Nothing settles until the bank does: that is the next step's.
            print(
                "the debit is processing; settle it with --outcome bank-pays or"
                " --outcome bank-refuses"
            )
            return 0
        payment = _wait_settled(call, payment.id, args.wait)
    print(render.status_line(payment))
    if payment.status == pb.PAYMENT_STATUS_PROCESSING:
        print(
            f"the gateway's webhook has not arrived in {args.wait:g} s; see later with"
            f" `nobat payments show {payment.id}`"
        )
        return 1
    return 0


def _wait_settled(call: Call, payment_id: str, timeout: float) -> pb.Payment:
    """The payment once it leaves PROCESSING, or as it is after `timeout` seconds."""
    return watched(
        lambda: _get(call, payment_id),
        lambda payment: payment.status == pb.PAYMENT_STATUS_PROCESSING,
        timeout,
        0.1,
    )


def show_wallet(args: argparse.Namespace) -> int:
    request = pb.GetWalletRequest(patient_id=args.patient or "")
    return _print_reply(args, "GetWallet", request, render.wallet_text, "wallet")


def wallet_history(args: argparse.Namespace) -> int:
    request = pb.ListWalletTransactionsRequest(
        patient_id=args.patient or "",
        currency=(args.currency or "").upper(),
        page_size=args.limit,
    )
    return _print_reply(
        args,
        "ListWalletTransactions",
        request,
        lambda reply: render.wallet_history_table(reply.transactions),
    )


def top_up(args: argparse.Namespace) -> int:
    amount = Money.from_major(args.amount, args.currency.upper())
    request = pb.TopUpWalletRequest(
        idempotency_key=fresh_key(),
        amount=money_pb2.Money(amount_minor=amount.amount_minor, currency=amount.currency),
    )
    with payment_service(args) as call:
        payment = call("TopUpWallet", request).payment
    status = render.label(pb.PaymentStatus, payment.status)
    print(f"top-up payment {payment.id}: {render.money(payment.amount)}, {status}")
    print(f"checkout: {payment.checkout_url or render.NOTHING}")
    print(f"pay it on that page, or here: nobat pay {payment.id}")
    return 0


def payouts(args: argparse.Namespace) -> int:
    request = pb.ListPayoutsRequest(doctor_id=args.doctor or "", page_size=args.limit)
    return _print_reply(
        args, "ListPayouts", request, lambda reply: render.payouts_table(reply.payouts)
    )


def disputes(args: argparse.Namespace) -> int:
    request = pb.ListDisputesRequest(
        status=render.value_of(pb.DisputeStatus, args.status),
        payment_id=args.payment or "",
        page_size=args.limit,
    )
    return _print_reply(
        args, "ListDisputes", request, render.paged("disputes", render.disputes_table)
    )


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`payments list|show|events`, `pay`, `wallet show|history|top-up`, `payouts` and
    `disputes`."""

    patient, doctor, as_json = acting(PATIENT), acting(DOCTOR), json_flag()
    paged = argparse.ArgumentParser(add_help=False)
    paged.add_argument("--limit", type=int, default=20, help="newest N (default 20, at most 100)")
    reading = [patient, as_json]

    payments = commands.add_parser("payments", help="payments: list, show").add_subparsers(
        dest="payments_command", required=True
    )
    listing = payments.add_parser("list", parents=[*reading, paged], help="payments, newest first")
    listing.add_argument("--patient", help="whose (admin and service callers; default all)")
    status_filter(listing, pb.PaymentStatus)
    listing.set_defaults(run=list_payments)
    showing = payments.add_parser("show", parents=reading, help="one payment in full")
    showing.add_argument("payment_id")
    showing.set_defaults(run=show_payment)
    trail = payments.add_parser(
        "events",
        parents=[*reading, paged],
        help="a payment's audit trail: who did what to it, from where, in order",
    )
    trail.add_argument("payment_id")
    trail.set_defaults(run=payment_events)

    paying = commands.add_parser(
        "pay",
        parents=[patient],
        help="end a sandbox checkout as its page can: pay, decline, cancel (only leads back,"
        " as on Stripe), a 3-D Secure challenge passed or failed, a bank debit and its"
        " settlement",
    )
    paying.add_argument("target", help="payment id, checkout session id (cs_…) or checkout URL")
    paying.add_argument("--outcome", choices=OUTCOMES, default="pay")
    paying.add_argument("--decline-code", help=f"with decline (default {DEFAULT_DECLINE_CODE})")
    paying.add_argument("--wait", type=float, default=10.0, help="seconds to wait (default 10)")
    paying.set_defaults(run=pay)

    wallet = commands.add_parser("wallet", help="wallet: show, history, top-up").add_subparsers(
        dest="wallet_command", required=True
    )
    whose = argparse.ArgumentParser(add_help=False)
    whose.add_argument("--patient", help="whose (admin and service callers)")
    wallet.add_parser("show", parents=[*reading, whose], help="balances").set_defaults(
        run=show_wallet
    )
    history = wallet.add_parser(
        "history", parents=[*reading, whose, paged], help="movements, newest first"
    )
    history.add_argument("--currency", help="only this currency")
    history.set_defaults(run=wallet_history)
    topping = wallet.add_parser("top-up", parents=[patient], help="add money through the gateway")
    topping.add_argument("amount", help="in major units, such as 50.00")
    topping.add_argument("currency", help="ISO 4217, such as USD")
    topping.set_defaults(run=top_up)

    listing = commands.add_parser(
        "payouts", parents=[doctor, as_json, paged], help="a doctor's payouts, newest first"
    )
    listing.add_argument("--doctor", help="whose (admin callers; default the caller's own)")
    listing.set_defaults(run=payouts)

    listing = commands.add_parser(
        "disputes",
        parents=[acting(ADMIN), as_json, paged],
        help="disputes of payments by patients' banks, newest first (admins)",
    )
    status_filter(listing, pb.DisputeStatus)
    listing.add_argument("--payment", help="only this payment's")
    listing.set_defaults(run=disputes)
