"""The ways the sandbox can be told to misbehave, as real gateways and networks do.

Set from the command line (`--switches '{"duplicate": 2}'`) or by
`POST /_sandbox/switches`, which merges; `POST /_sandbox/reset` sets them back. Counts
are spent one per occasion; `drop: true` drops every webhook until it is switched off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Switches:
    # Each webhook is delivered this many times, concurrently.
    duplicate: int = 1
    # A session's (or refund's) webhooks are held until it settles, then sent newest first.
    reverse: bool = False
    # Each webhook waits this long before its first delivery.
    delay_seconds: float = 0.0
    # Webhooks not sent at all: true for all, or a count of the next ones.
    drop: bool | int = False
    # The next capture takes the session's amount plus this (a gateway's rounding bug).
    wrong_amount: int = 0
    # Webhooks signed with a secret the receiver does not know.
    bad_signature: bool = False
    # The next N mutating API calls are carried out, then the connection is closed
    # without an answer: "charged, then the response was lost".
    lose_response: int = 0
    # The next N payments are taken, but neither webhook nor redirect follows.
    lose_pay: int = 0
    # Refunds stay pending this long, then end in `refund_outcome`; 0 ends them at once.
    refund_delay_seconds: float = 0.0
    refund_outcome: str = "succeeded"
    # Every API call is answered 503, as in an outage: nothing is done, the caller
    # learns nothing, and webhooks already due are still sent.
    api_down: bool = False
    # The next N mutating API calls find every idempotency key forgotten, as Stripe
    # forgets one after 24 h: a key given again makes a new object.
    forget_keys: int = 0
    # Each mutating API call, its work done, waits this long before it answers: a slow
    # gateway, during which a second call with the same idempotency key is answered 409.
    api_delay_seconds: float = 0.0
    # A delayed payment (Pay later) is settled by the bank this long after it was made, in
    # `delayed_outcome`; 0 leaves it processing until the control API settles it.
    delayed_settle_seconds: float = 0.0
    delayed_outcome: str = "succeeded"
    # NOT STRIPE'S BEHAVIOUR. Cancel on the hosted page expires the session at once, its
    # intent cancelled as `abandoned`, as the sandbox did before it followed Stripe, where
    # the cancel URL is only a way back and the session stays open until it expires.
    # For trying nobat's "cancelled by the patient" outcome, which Stripe never produces.
    cancel_expires: bool = False

    def merge(self, changes: Mapping[str, Any]) -> None:
        """Applies `changes`, all or none: ValueError names every switch that is wrong."""
        problems = [
            f"{name}: unknown switch" if name not in _RULES else f"{name}: {_RULES[name][1]}"
            for name, value in changes.items()
            if name not in _RULES or not _RULES[name][0](value)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        for name, value in changes.items():
            setattr(self, name, value)

    def reset(self) -> None:
        for field in fields(self):
            setattr(self, field.name, field.default)

    def take(self, name: str) -> bool:
        """Whether a counted switch fires now, spending one; `true` never runs out."""
        value = getattr(self, name)
        if value is True:
            return True
        if value:
            setattr(self, name, value - 1)
            return True
        return False

    def take_wrong_amount(self) -> int:
        delta, self.wrong_amount = self.wrong_amount, 0
        return delta

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _int_at_least(minimum: int) -> Callable[[Any], bool]:
    return lambda value: type(value) is int and value >= minimum


def _is_seconds(value: Any) -> bool:
    return type(value) in (int, float) and value >= 0


def _is_outcome(value: Any) -> bool:
    return value in ("succeeded", "failed")


_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "duplicate": (_int_at_least(1), "an integer of at least 1"),
    "reverse": (_is_bool, "true or false"),
    "delay_seconds": (_is_seconds, "a number of seconds, at least 0"),
    "drop": (lambda v: _is_bool(v) or _int_at_least(0)(v), "true, false or a count"),
    "wrong_amount": (lambda v: type(v) is int, "an integer number of minor units"),
    "bad_signature": (_is_bool, "true or false"),
    "lose_response": (_int_at_least(0), "a count"),
    "lose_pay": (_int_at_least(0), "a count"),
    "refund_delay_seconds": (_is_seconds, "a number of seconds, at least 0"),
    "api_down": (_is_bool, "true or false"),
    "forget_keys": (_int_at_least(0), "a count"),
    "api_delay_seconds": (_is_seconds, "a number of seconds, at least 0"),
    "cancel_expires": (_is_bool, "true or false"),
    "refund_outcome": (_is_outcome, '"succeeded" or "failed"'),
    "delayed_settle_seconds": (_is_seconds, "a number of seconds, at least 0"),
    "delayed_outcome": (_is_outcome, '"succeeded" or "failed"'),
}
