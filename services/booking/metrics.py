"""Booking's own metrics (deploy/README.md, "Metrics"): slot holds placed, and the
checkouts whose hold ended unpaid. Children are bound here, once."""

from __future__ import annotations

from prometheus_client import Counter

HOLDS = Counter("nobat_slot_holds_total", "Slots held for a patient's new checkout.")
EXPIRIES = Counter(
    "nobat_checkout_expiries_total",
    "Checkouts expired unpaid, their slot put back on sale, by cause.",
    ["cause"],
)
# The hold's own end (booking's job), or payment telling it the payment expired.
expired_on_hold = EXPIRIES.labels("hold_lapsed")
expired_on_payment = EXPIRIES.labels("payment_expired")
