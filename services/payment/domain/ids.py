"""Ids of the things a payment begets, derived from the payment's own id.

Only a payment's id comes in from outside; its attempts, refunds, payouts and ledger
transactions get name-based UUIDs (version 5) from it and from what makes them unique
(the attempt's number, the refund's idempotency key). Deriving them makes a retried
handler produce the same ids, so the database's primary keys refuse a second posting of
the same fact, and the gateway sees the same idempotency key for the same attempt.
"""

from __future__ import annotations

import uuid

_NOBAT_PAYMENT = uuid.uuid5(uuid.NAMESPACE_URL, "urn:nobat:payment")


def derived_id(parent: str, *what: object) -> str:
    """A stable id for `what` of `parent`: derived_id(payment_id, "attempt", 2)."""
    return str(uuid.uuid5(_NOBAT_PAYMENT, "/".join(map(str, (parent, *what)))))


def payment_id_for(kind: str, ref: str) -> str:
    """The one payment of a purchase: its id follows from the purchase, so two requests
    racing to create it meet on the same primary key."""
    return derived_id("purchase", kind, ref)
