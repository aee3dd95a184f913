"""Errors in Stripe's shape, `{"error": {"type", "code", "doc_url", "message", "param"}}`,
with the HTTP status the SDK turns into its own exception classes (400 and 404
InvalidRequestError, 401 AuthenticationError, 402 CardError, 409 a retryable conflict).

Only codes Stripe documents are used (the conformance test holds them to the SDK's list
of error codes); where Stripe answers a plain `invalid_request_error` without a code, so
does the sandbox.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

_DOC_URL = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        executed: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code is not None:
            self.body["code"] = code
            # Stripe points each coded error at its page, spelt with hyphens.
            self.body["doc_url"] = _DOC_URL + code.replace("_", "-")
        if param is not None:
            self.body["param"] = param
        # Stripe keeps an idempotent answer only once a request started to execute; a
        # request refused while its parameters were read may be sent again, corrected.
        self.executed = executed

    def response(self) -> web.Response:
        return web.json_response({"error": self.body}, status=self.status)


def invalid_param(param: str, message: str, code: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param, executed=False)


def no_such(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeError:
    """An object that does not exist: 404 when it is the one the URL names, 400 when a
    parameter names it (a refund's `payment_intent`), as Stripe answers."""
    return StripeError(
        status,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
        executed=False,
    )


def refused(code: str | None, message: str, param: str | None = None) -> StripeError:
    """A request that was valid but the state of things forbids."""
    return StripeError(400, message, code=code, param=param)
