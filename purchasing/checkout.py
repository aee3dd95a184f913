"""A checkout's payment progress: how far payment got with what a patient is buying.

Booking's checkout (a held slot) and consultation's (a consultation) are each this, plus
what they sell and their own decision when the money arrives.

    awaiting_payment  → payment_failed    PaymentFailed
    payment_failed    → awaiting_payment  retry, while it lasts, maybe another method
    either of those   → expired           PaymentExpired, or the checkout lapsed
    any of those      → confirmed         PaymentConfirmed, and the context fulfils it
                      → refunded          PaymentConfirmed, and the context cannot

A confirmed payment always ends in exactly one outcome, whatever state it finds: the
money is real, so even an expired checkout is answered, with what was bought or a full
refund. Everything after `confirmed` or `refunded` is a duplicate or too late and
changes nothing, except that a second, different payment is refunded too (once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import ClassVar

from purchasing.errors import CheckoutExpired, CheckoutNotRetryable
from purchasing.events import DUPLICATE_PAYMENT, Purchase, PurchaseFulfilled, PurchaseRejected
from runtime.instants import require_utc
from runtime.money import Money


class PaymentMethod(Enum):
    GATEWAY = "gateway"
    WALLET = "wallet"


class CheckoutStatus(Enum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_FAILED = "payment_failed"
    CONFIRMED = "confirmed"
    REFUNDED = "refunded"
    EXPIRED = "expired"


# Waiting for a payment (a booking's checkout holds its slot meanwhile).
OPEN = frozenset({CheckoutStatus.AWAITING_PAYMENT, CheckoutStatus.PAYMENT_FAILED})
# A confirmed payment has been answered, with what was bought or a refund.
SETTLED = frozenset({CheckoutStatus.CONFIRMED, CheckoutStatus.REFUNDED})

_WHY_NOT_RETRYABLE = {
    CheckoutStatus.AWAITING_PAYMENT: "a payment attempt is still in progress",
    CheckoutStatus.CONFIRMED: "it is already paid and confirmed",
    CheckoutStatus.REFUNDED: "it was paid and refunded; start a new checkout",
}


@dataclass(frozen=True)
class PaymentFailure:
    """Why an attempt failed, as payment reports it; `retryable` while the intent is open."""

    code: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class ConfirmedPayment:
    """What a PaymentConfirmed says that a purchasing context needs to decide."""

    payment_id: str
    # Compared with the checkout's price, never computed with.
    amount: Money
    confirmed_at: datetime


@dataclass(kw_only=True)
class Checkout:
    """A patient's durable request to buy one thing, and how far its payment got."""

    # What payment knows this context's purchases by: Purchase(kind, ref=checkout id).
    PURCHASE_KIND: ClassVar[str]

    id: str
    patient_id: str
    # Fixed at the start; the payment is created for exactly this.
    price: Money
    method: PaymentMethod
    # Until when it waits for a payment (a booking's: while its slot is held).
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    status: CheckoutStatus = CheckoutStatus.AWAITING_PAYMENT
    # Counts payment attempts, for per-attempt idempotency keys.
    attempt: int = 1
    payment_id: str | None = None
    # The current attempt's id, when known: a late failure of an older attempt must not
    # fail the current one.
    attempt_id: str | None = None
    checkout_url: str | None = None
    payment_failure: PaymentFailure | None = None
    # Other payments confirmed after this checkout was settled, each refunded once.
    duplicate_payment_ids: tuple[str, ...] = ()
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("expires_at", "created_at", "updated_at"):
            require_utc(getattr(self, name), name)

    @property
    def purchase(self) -> Purchase:
        return Purchase(self.PURCHASE_KIND, self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def lapsed(self, now: datetime) -> bool:
        return now >= self.expires_at

    def retryable(self, now: datetime) -> bool:
        return (
            self.status is CheckoutStatus.PAYMENT_FAILED
            and self.payment_failure is not None
            and self.payment_failure.retryable
            and not self.lapsed(now)
        )

    def payment_created(
        self, *, payment_id: str, attempt_id: str | None, checkout_url: str | None, now: datetime
    ) -> None:
        """Payment accepted the current attempt: where to send the patient, and its ids."""
        if self.status is not CheckoutStatus.AWAITING_PAYMENT:
            return
        self.payment_id = payment_id
        self.attempt_id = attempt_id
        self.checkout_url = checkout_url
        self.updated_at = now

    def payment_failed(
        self,
        failure: PaymentFailure,
        *,
        now: datetime,
        payment_id: str | None = None,
        attempt_id: str | None = None,
    ) -> bool:
        """The current attempt failed; True if that changed the checkout.

        Ignored unless awaiting payment, and when it is about another payment or an older
        attempt than the current one: a late failure never undoes a success or a retry.
        """
        if self.status is not CheckoutStatus.AWAITING_PAYMENT:
            return False
        about_another = any(
            None not in (theirs, ours) and theirs != ours
            for theirs, ours in ((payment_id, self.payment_id), (attempt_id, self.attempt_id))
        )
        if about_another:
            return False
        self.status = CheckoutStatus.PAYMENT_FAILED
        self.payment_failure = failure
        self.updated_at = now
        return True

    def ensure_retryable(self, now: datetime) -> None:
        """Raise why a new attempt cannot start, if it cannot; call before asking payment."""
        if self.status is CheckoutStatus.EXPIRED or (self.is_open and self.lapsed(now)):
            raise CheckoutExpired(self.id, self.expires_at)
        if self.leaving_an_open_page:
            return
        why = _WHY_NOT_RETRYABLE.get(self.status)
        if why is None and not self.retryable(now):
            why = "its payment can no longer be retried; start a new checkout"
        if why is not None:
            raise CheckoutNotRetryable(self.id, self.status.value, why)

    @property
    def leaving_an_open_page(self) -> bool:
        """Awaiting payment on an attempt payment has opened: the patient may leave its
        page for another try (pressed Cancel, which on Stripe leaves the page open, or
        wants the wallet instead). Payment closes the page first, and refuses the retry
        if it was paid meanwhile or a bank debit on it is still being settled."""
        return self.status is CheckoutStatus.AWAITING_PAYMENT and self.attempt_id is not None

    def retry(self, now: datetime, method: PaymentMethod | None = None) -> None:
        """Start a new attempt, optionally with another method (a short wallet → gateway).

        Record the attempt payment opens with `payment_created` in the same unit of work,
        so no late failure can slip in before the new attempt is known.
        """
        self.ensure_retryable(now)
        self.status = CheckoutStatus.AWAITING_PAYMENT
        self.attempt += 1
        self.method = method or self.method
        self.attempt_id = None
        self.checkout_url = None
        self.payment_failure = None
        self.updated_at = now

    def expire(self, now: datetime) -> bool:
        """The payment ran out unpaid, or the checkout lapsed; True if it was still open.
        A payment confirmed later is still answered."""
        if not self.is_open:
            return False
        self.status = CheckoutStatus.EXPIRED
        self.updated_at = now
        return True

    def take_payment(self, payment: ConfirmedPayment, now: datetime) -> bool:
        """The first step of answering a confirmed payment, the same for every context.

        True: the payment is this checkout's to answer, by `fulfilled` or `refused`, as
        the context decides. False: the checkout was answered already; a payment it has
        not seen is then refunded (once), the same one again changes nothing.
        """
        if self.status in SETTLED:
            if payment.payment_id not in (self.payment_id, *self.duplicate_payment_ids):
                # Payment keys intents by checkout, so this is a bug elsewhere; still, no
                # confirmed payment may go unanswered, nor be answered twice.
                self.duplicate_payment_ids += (payment.payment_id,)
                self._reject(payment.payment_id, DUPLICATE_PAYMENT, now)
            return False
        self.payment_id = payment.payment_id
        self.payment_failure = None
        return True

    def fulfilled(self, now: datetime) -> None:
        """The context delivered what was paid for."""
        assert self.payment_id is not None
        self.status = CheckoutStatus.CONFIRMED
        self.updated_at = now
        self.events.append(PurchaseFulfilled(self.payment_id, self.purchase, now))

    def settle_voided(self, payment_id: str, now: datetime) -> bool:
        """Payment gave `payment_id`'s money back on its own (PurchaseVoided) before the
        checkout was answered: it is settled as refunded, asking nothing, so a
        PaymentConfirmed arriving after this makes nothing (take_payment). False when it
        was answered already: what a confirmed one bought is the context's to release."""
        if self.status in (CheckoutStatus.CONFIRMED, CheckoutStatus.REFUNDED):
            return False
        self.payment_id = payment_id
        self.payment_failure = None
        self.status = CheckoutStatus.REFUNDED
        self.updated_at = now
        return True

    def refused(self, reason: str, now: datetime) -> None:
        """The context cannot deliver it: the payment goes back in full, for `reason`."""
        assert self.payment_id is not None
        self.status = CheckoutStatus.REFUNDED
        self._reject(self.payment_id, reason, now)

    def _reject(self, payment_id: str, reason: str, now: datetime) -> None:
        self.updated_at = now
        self.events.append(PurchaseRejected(payment_id, self.purchase, reason, now))
