"""Errors in Stripe's shape, `{"error": {"type", "code", "message", "param"}}`, with the
HTTP status the SDK turns into its own exception classes (400 and 404 InvalidRequestError,
401 AuthenticationError, 402 CardError)."""

from __future__ import annotations

from typing import Any

from aiohttp import web


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
        if param is not None:
            self.body["param"] = param
        # Stripe keeps an idempotent answer only once a request started to execute; a
        # request refused while its parameters were read may be sent again, corrected.
        self.executed = executed

    def response(self) -> web.Response:
        return web.json_response({"error": self.body}, status=self.status)


def invalid_param(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, message, code=code, param=param, executed=False)


def no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
        executed=False,
    )


def refused(code: str, message: str, param: str | None = None) -> StripeError:
    """A request that was valid but the state of things forbids."""
    return StripeError(400, message, code=code, param=param)
