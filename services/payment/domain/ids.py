"""Ids of the things a payment begets, derived from the payment's own id.

Only a payment's id comes in from outside; its attempts, refunds, payouts and ledger
transactions get name-based UUIDs (version 5) from it and from what makes them unique
(the attempt's number, the refund's idempotency key). Deriving them makes a retried
handler produce the same ids, so the database's primary keys refuse a second posting of
the same fact, and the gateway sees the same idempotency key for the same attempt.
"""

from __future__ import annotations

from runtime import ids
from services.payment.domain.purchase import WALLET_TOP_UP

_PAYMENT_IDS = ids.namespace("payment")


def derived_id(parent: str, *what: object) -> str:
    """A stable id for `what` of `parent`: derived_id(payment_id, "attempt", 2)."""
    return ids.derived_id(_PAYMENT_IDS, parent, *what)


def payment_id_for(kind: str, ref: str) -> str:
    """The one payment of a purchase: its id follows from the purchase, so two requests
    racing to create it meet on the same primary key."""
    return derived_id("purchase", kind, ref)


def top_up_id(patient_id: str, key: str) -> str:
    """The one payment of a patient's top-up under their idempotency key. The patient and
    the key are parts of their own, never one ref joined by "/": patient "a" with key
    "b/c" is not patient "a/b" with key "c" (runtime.ids)."""
    return derived_id("purchase", WALLET_TOP_UP, patient_id, key)
