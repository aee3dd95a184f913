"""Every kind of purchase nobat sells, as `nobat check` verifies it: one registry, so a new
kind is checked by adding it here, and a confirmed payment of a kind nobody registered is
reported rather than passed over.

Payment never branches on a kind (a purchase is a kind and a ref); its composition root
only reads here which services sell through it, to let each create payments of its own
kind and to hear its outcomes on its stream (`purchasers`). A kind names the service that
fulfils it and the table of what a payment bought there (one
row per fulfilled payment, with id, payment_id, price_minor and currency), and, where a
doctor does the work, how to find that doctor of record for each payment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from runtime.events import Stream


@dataclass(frozen=True)
class PurchaseKind:
    # Purchase.kind, as the purchasing context sends it to payment.
    name: str
    # The service whose database holds what was bought.
    service: str
    # The table of records bought; None when payment delivers it itself (a top-up is the
    # wallet's credit, in the same commit as its confirmation).
    records: str | None
    # SQL over that database giving (payment_id, doctor_id) for each payment whose work is
    # or was a doctor's; doctor_id NULL when nobody does it (the platform holds the money).
    # None: no doctor is paid for this kind.
    doctors_of_record: str | None = None
    # SQL over that database giving the payment_id of each record still live: bought and
    # neither released (cancelled, expired, refunded) nor delivered. A payment voided by
    # payment itself (VOIDING_REASONS) must have none. None: nothing stays live.
    live_records: str | None = None


# The refund reasons with which payment gives a purchase back on its own initiative, not
# at the purchasing context's request, and publishes PurchaseVoided: whatever the purchase
# bought must be released. Payment names its refunds by these; `nobat check` reads them.
FRAUD_WARNING = "fraud_warning"
VOIDING_REASONS = frozenset({FRAUD_WARNING})


KINDS: dict[str, PurchaseKind] = {}
# The kinds payment fulfils itself, which no other service sells.
PAYMENTS_OWN = "payment"


def register(kind: PurchaseKind) -> PurchaseKind:
    if kind.service not in (PAYMENTS_OWN, kind.name):
        # Payment lets a service create payments only of the kind named after it.
        raise ValueError(f"purchase kind {kind.name!r} must be sold by a service of that name")
    if kind.name in KINDS and KINDS[kind.name] != kind:
        raise ValueError(f"purchase kind {kind.name!r} is registered already")
    KINDS[kind.name] = kind
    return kind


BOOKING = register(
    PurchaseKind(
        "booking",
        "booking",
        "reservations",
        # A cancelled reservation keeps its doctor: what its refund left is still theirs.
        "SELECT payment_id, doctor_id FROM reservations",
        "SELECT payment_id FROM reservations WHERE status = 'confirmed'",
    )
)
CONSULTATION = register(
    PurchaseKind(
        "consultation",
        "consultation",
        "clinical_sessions",
        # The doctor the consultation is assigned to; before symptoms, the doctor chosen at
        # checkout; nobody once refunded (expired without symptoms, or untaken).
        "SELECT s.payment_id, CASE"
        " WHEN c.id IS NULL AND s.status <> 'expired' THEN s.doctor_id"
        " WHEN c.status <> 'refunded' THEN c.doctor_id END AS doctor_id"
        " FROM clinical_sessions s LEFT JOIN consultations c ON c.clinical_session_id = s.id",
        # A session still awaiting symptoms, or its consultation not yet held; a completed
        # one was delivered.
        "SELECT s.payment_id FROM clinical_sessions s"
        " LEFT JOIN consultations c ON c.clinical_session_id = s.id"
        " WHERE (c.id IS NULL AND s.status = 'awaiting_symptoms')"
        " OR c.status IN ('waiting_for_doctor', 'doctor_review_pending', 'in_progress')",
    )
)
WALLET_TOP_UP = register(PurchaseKind("wallet_topup", PAYMENTS_OWN, None))


def purchasers() -> Iterator[tuple[Stream, str]]:
    """Each service selling through payment, by the stream it states its outcomes on and
    the one kind it may speak of (a service sells the kind named after it)."""
    for kind in KINDS.values():
        if kind.service != PAYMENTS_OWN:
            yield Stream(kind.service.upper(), kind.service), kind.name
