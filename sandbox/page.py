"""The hosted checkout page: what the patient sees at a session's `url`.

It ends as a real Checkout page can. Pay sends the browser on to `success_url` (with
Stripe's `{CHECKOUT_SESSION_ID}` filled in), Cancel to `cancel_url` (and, as on Stripe,
leaves the session open); Decline shows the page again with the decline, as Stripe keeps
the session open for another card. Pay later (a bank debit) completes the session unpaid
and goes to `success_url`; the bank settles it later. Pay with 3-D Secure shows the bank's
challenge, passed (paid) or failed (the page again, open for another try). A session
that is no longer open shows why, and a Pay on it charges nothing.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from decimal import Decimal

from aiohttp import web

from sandbox.api import hang_up
from sandbox.currencies import exponent
from sandbox.errors import StripeError
from sandbox.objects import CheckoutSession
from sandbox.payments import Payments
from sandbox.switches import Switches

_DECLINE_CODES = ("generic_decline", "insufficient_funds", "lost_card", "expired_card")


def after_pay(session: CheckoutSession) -> str:
    if session.success_url is None:
        return session.page_url
    return session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id)


def after_cancel(session: CheckoutSession) -> str:
    return session.cancel_url or session.page_url


def pay(payments: Payments, switches: Switches, request: web.Request) -> CheckoutSession:
    """Pay, as the page's button and the control API do it: under `lose_pay` the money
    is taken but nothing comes back, neither the browser nor a webhook."""
    lost = switches.take("lose_pay")
    session = payments.pay(request.match_info["id"], announce=not lost)
    if lost:
        hang_up(request)
    return session


class CheckoutPage:
    def __init__(self, payments: Payments, switches: Switches) -> None:
        self.payments = payments
        self.switches = switches

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/checkout/{id}", self.show),
            web.post("/checkout/{id}/pay", self.pay),
            web.post("/checkout/{id}/decline", self.decline),
            web.post("/checkout/{id}/cancel", self.cancel),
            web.post("/checkout/{id}/pay_later", self.pay_later),
            web.post("/checkout/{id}/challenge", self.challenge),
            web.post("/checkout/{id}/authenticate", self.authenticate),
        ]

    async def show(self, request: web.Request) -> web.StreamResponse:
        try:
            return _page(self.payments.session(request.match_info["id"]))
        except StripeError as error:
            return _error_page(error)

    async def pay(self, request: web.Request) -> web.StreamResponse:
        return self._act(request, lambda: after_pay(pay(self.payments, self.switches, request)))

    async def decline(self, request: web.Request) -> web.StreamResponse:
        code = (await request.post()).get("decline_code") or "generic_decline"
        return self._act(
            request, lambda: self.payments.decline(request.match_info["id"], str(code)).page_url
        )

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        return self._act(
            request, lambda: after_cancel(self.payments.cancel(request.match_info["id"]))
        )

    async def pay_later(self, request: web.Request) -> web.StreamResponse:
        return self._act(
            request, lambda: after_pay(self.payments.pay_later(request.match_info["id"]))
        )

    async def challenge(self, request: web.Request) -> web.StreamResponse:
        return self._act(
            request, lambda: self.payments.challenge(request.match_info["id"]).page_url
        )

    async def authenticate(self, request: web.Request) -> web.StreamResponse:
        passed = (await request.post()).get("result") == "pass"

        def act() -> str:
            session = self.payments.authenticate(request.match_info["id"], passed)
            return after_pay(session) if passed else session.page_url

        return self._act(request, act)

    def _act(self, request: web.Request, action: Callable[[], str]) -> web.StreamResponse:
        try:
            return web.Response(status=303, headers={"Location": action()})
        except StripeError as error:
            session = self.payments.sessions.get(request.match_info["id"])
            return _error_page(error) if session is None else _page(session, error, 409)


def _page(
    session: CheckoutSession, error: StripeError | None = None, status: int = 200
) -> web.Response:
    intent = session.intent
    digits = exponent(session.currency)
    amount = (
        f"{Decimal(session.amount_total).scaleb(-digits):.{digits}f} {session.currency.upper()}"
    )
    notes = []
    if error is not None:
        notes.append(f'<p class="error">{html.escape(error.body["message"])}</p>')
    if session.status == "open" and intent is not None and intent.last_payment_error:
        notes.append(f"<p class='error'>{html.escape(intent.last_payment_error['message'])}</p>")
    base = f"/checkout/{session.id}"
    if session.status == "open" and intent is not None and intent.status == "requires_action":
        actions = (
            "<p>Your bank asks you to confirm this payment (3-D Secure).</p>"
            f'<form method="post" action="{base}/authenticate">'
            '<button name="result" value="pass">Complete authentication</button> '
            '<button name="result" value="fail">Fail authentication</button></form>'
        )
    elif session.status == "open":
        options = "".join(f"<option>{code}</option>" for code in _DECLINE_CODES)
        actions = (
            f'<form method="post" action="{base}/pay"><button>Pay {amount}</button></form>'
            f'<form method="post" action="{base}/challenge">'
            "<button>Pay with a card that asks for 3-D Secure</button></form>"
            f'<form method="post" action="{base}/pay_later">'
            "<button>Pay by bank debit (settles later)</button></form>"
            f'<form method="post" action="{base}/decline"><select name="decline_code">'
            f"{options}</select> <button>Decline</button></form>"
            f'<form method="post" action="{base}/cancel"><button>Cancel</button></form>'
        )
    elif session.payment_status == "unpaid" and session.status == "complete":
        actions = "<p>Your bank debit is processing: the bank settles it later.</p>"
    else:
        actions = f"<p>This checkout session is {session.status}.</p>"
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Sandbox checkout</title>"
        "<style>body{font-family:sans-serif;max-width:30em;margin:3em auto}"
        ".error{color:#b00}form{margin:.5em 0}</style></head><body>"
        f"<h1>{html.escape(session.description)}</h1><p class='amount'>{amount}</p>"
        f"{''.join(notes)}{actions}</body></html>"
    )
    return web.Response(text=body, content_type="text/html", status=status)


def _error_page(error: StripeError) -> web.Response:
    message = html.escape(error.body["message"])
    return web.Response(text=f"<p>{message}</p>", content_type="text/html", status=error.status)
