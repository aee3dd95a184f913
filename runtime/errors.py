"""The kinds of failure a caller can act on, as plain Python exceptions.

Domains subclass these with names that state the broken rule (`SlotAlreadyHeld`,
`InsufficientWalletBalance`); the gRPC layer maps each kind to one status code in one
place (`runtime.rpc.to_status`). Anything that is not one of these is a bug and reaches the
caller only as INTERNAL with a correlation id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.money import Money


class DomainError(Exception):
    """Base of every failure a caller is told about.

    The class name is the broken rule; callers receive it as the `reason` of an
    ErrorInfo detail (SlotAlreadyHeld -> SLOT_ALREADY_HELD), with `metadata` beside it.
    """

    def __init__(self, message: str, **metadata: object) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: Mapping[str, str] = {k: str(v) for k, v in metadata.items()}


class InvalidArgument(DomainError):
    """Bad input; names the offending field. Nothing was changed."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}", field=field)
        self.violations: list[tuple[str, str]] = [(field, description)]

    @classmethod
    def many(cls, violations: list[tuple[str, str]]) -> InvalidArgument:
        error = cls(*violations[0])
        error.violations = list(violations)
        error.message = "; ".join(f"{f}: {d}" for f, d in violations)
        error.args = (error.message,)
        return error

    def naming(self, violations: list[tuple[str, str]]) -> InvalidArgument:
        """This error naming `violations` instead, its class (its reason for the caller)
        kept: for moving paths under a request's field, or naming every bad part at once."""
        plain = InvalidArgument.many(violations)
        self.violations, self.metadata = plain.violations, plain.metadata
        self.message, self.args = plain.message, plain.args
        return self


class UnreadableRequest(InvalidArgument):
    """Bytes that are not a message of the RPC's request type (text that is not UTF-8, a
    field cut short): nothing in them can be read, so no field is named."""

    def __init__(self, message_name: str, problem: str) -> None:
        DomainError.__init__(
            self, f"request is not a valid {message_name}: {problem}", type=message_name
        )
        self.violations = []


class FieldRequired(InvalidArgument):
    """A field left unset that has no meaning unset."""

    def __init__(self, field: str) -> None:
        super().__init__(field, "is required")


class MalformedField(InvalidArgument):
    """A value not written the way its field is written (a kind in lower case, a number)."""


class UnknownCurrency(InvalidArgument):
    def __init__(self, code: str, field: str = "currency") -> None:
        super().__init__(field, f"{code!r} is not a currency nobat accepts (ISO 4217, like USD)")


class CurrencyMismatch(InvalidArgument):
    """Money in two currencies was added, compared or mixed in one payment."""

    def __init__(self, expected: str, got: str, field: str = "currency") -> None:
        super().__init__(field, f"must be {expected}, not {got}")
        self.expected = expected
        self.got = got


class AmountNotPositive(InvalidArgument):
    def __init__(self, field: str = "amount") -> None:
        super().__init__(field, "must be a positive count of minor units")


class AmountNegative(InvalidArgument):
    def __init__(self, field: str = "amount") -> None:
        super().__init__(field, "must not be negative")


class AmountAboveLimit(InvalidArgument):
    def __init__(self, limit: Money, field: str = "amount") -> None:
        super().__init__(field, f"must not exceed {limit}")


class AmountTooPrecise(InvalidArgument):
    """More decimals than the currency has minor units (12.345 USD)."""

    def __init__(self, text: str, exponent: int, field: str = "amount") -> None:
        super().__init__(field, f"{text!r} is not a number with at most {exponent} decimals")


class NotFound(DomainError):
    """Does not exist, or is not the caller's to see (the two are indistinguishable)."""


class AlreadyExists(DomainError):
    """The thing to create is already there."""


class FailedPrecondition(DomainError):
    """The request is valid but the state forbids it now (slot held, balance short)."""


class GatewayRefusesAmount(FailedPrecondition):
    """The payment gateway does not take this currency, or not this amount in it (below
    its least charge, above its most). Payment refuses it before the gateway is asked, and
    the purchasing contexts pass it on as it is, so the patient reads why at once and
    nothing is held for a payment that could never be made."""

    def __init__(self, message: str, **metadata: object) -> None:
        super().__init__(message, **metadata)


class PaymentTakesNoNewAttempt(FailedPrecondition):
    """Payment opens no other attempt now: the page being left was paid meanwhile, or a
    bank debit on it is still being settled (it confirms or fails on its own). The
    purchasing contexts pass it on as payment worded it, so the patient reads why."""

    def __init__(self, message: str, **metadata: object) -> None:
        super().__init__(message, **metadata)


class Conflict(DomainError):
    """Lost a race worth retrying (maps to ABORTED)."""


class ResourceExhausted(DomainError):
    """A quota of the caller's is used up (open checkouts, attempts at a payment, live
    streams): nothing
    was changed, and the same call may succeed after `retry_after` (maps to
    RESOURCE_EXHAUSTED, with the delay as google.rpc.RetryInfo and the quota as
    QuotaFailure). `subject` names what the quota counts, `limit` how many it allows."""

    def __init__(
        self, message: str, *, subject: str, limit: int, retry_after: timedelta, **metadata: object
    ) -> None:
        super().__init__(message, subject=subject, limit=limit, **metadata)
        self.subject = subject
        # Never less than a second: "retry at once" would invite the loop the quota stops.
        self.retry_after = max(retry_after, timedelta(seconds=1))


class Unavailable(DomainError):
    """Something this call depends on (a gateway, another service) cannot be reached now;
    nothing was changed, and the same call may be retried (maps to UNAVAILABLE)."""


class PermissionDenied(DomainError):
    """The caller is known but its role may not do this."""


class Unauthenticated(DomainError):
    """No valid identity came with the call."""


class IdempotencyKeyReused(InvalidArgument):
    def __init__(self) -> None:
        super().__init__("idempotency_key", "already used with a different request; use a new key")


class RefusedAfterEffect(Exception):
    """Raised by an answer that changed something worth keeping and must still refuse
    the call: a wallet too short to pay leaves its failed attempt on the payment, so the
    patient can switch to the gateway. The change is committed, the error reaches the
    caller, and the key is released, so the same request asked again is judged again."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(str(error))
        self.error = error
