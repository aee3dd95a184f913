"""The parts of a purchasing context's handlers that are the same for any checkout: finding
the caller's checkout, asking payment for an attempt and recording its answer, and
answering payment's news about a checkout that is not there (yet, or ever)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from clients.payment import OpenedAttempt, PaymentOrder
from purchasing.checkout import Checkout, CheckoutStatus, PaymentFailure, PaymentMethod
from purchasing.errors import CheckoutNotFound
from purchasing.events import UNKNOWN_CHECKOUT, Purchase, PurchaseRejected
from purchasing.messages import outcome_message
from runtime.unit import Unit
from runtime.wire import PageRequest

C = TypeVar("C", bound=Checkout)


class CheckoutNotYetVisible(Exception):
    """Payment's news about a checkout whose transaction has not committed yet (a wallet
    payment confirms within StartCheckout's own call): worth redelivering shortly."""


class Payments(Protocol):
    async def retry(
        self, payment_id: str, key: str, method: str, return_url: str
    ) -> OpenedAttempt: ...


class Checkouts(Protocol[C]):
    async def get(self, checkout_id: str, *, for_update: bool = False) -> C | None: ...

    async def page(
        self,
        patient_id: str,
        status: CheckoutStatus | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[C]: ...


class CheckoutsUnit(Unit, Protocol[C]):
    checkouts: Checkouts[C]


async def patients_checkouts(
    uow: CheckoutsUnit[C], patient_id: str, status: CheckoutStatus | None, asked: PageRequest
) -> tuple[list[C], str]:
    """The patient's own checkouts, newest first: what they are paying or paid for, found
    again from any device rather than only from the page the checkout was started on."""
    async with uow:
        found = await uow.checkouts.page(patient_id, status, asked.after, asked.limit)
    return asked.cut(found, lambda checkout: (checkout.created_at, checkout.id))


async def load_checkout(
    checkouts: Checkouts[C], checkout_id: str, viewer: str | None, *, lock: bool = False
) -> C:
    """The checkout, if it is `viewer`'s (any for None: admins and the system)."""
    checkout = await checkouts.get(checkout_id, for_update=lock)
    if checkout is None or (viewer is not None and checkout.patient_id != viewer):
        raise CheckoutNotFound(checkout_id)
    return checkout


def payment_order(
    checkout: Checkout, *, doctor_id: str | None, description: str, return_url: str
) -> PaymentOrder:
    """What payment is asked to charge for `checkout`: exactly its price, by its method,
    known by its id, and gone when the checkout is."""
    return PaymentOrder(
        purchase_kind=checkout.PURCHASE_KIND,
        purchase_ref=checkout.id,
        patient_id=checkout.patient_id,
        doctor_id=doctor_id,
        amount_minor=checkout.price.amount_minor,
        currency=checkout.price.currency,
        method=checkout.method.value,
        return_url=return_url,
        description=description,
        expires_at=checkout.expires_at,
    )


def retry_key(checkout: Checkout) -> str:
    """The idempotency key of the checkout's current attempt at payment."""
    return f"{checkout.id}/attempt/{checkout.attempt}"


def attempt_opened(
    checkout: Checkout, opened: OpenedAttempt, now: datetime
) -> PaymentFailure | None:
    """Record payment's answer to a new attempt; the failure it reported at once (a wallet
    too short, say), for the context to record by its own rule, or None."""
    checkout.payment_created(
        payment_id=opened.payment_id,
        attempt_id=opened.attempt_id,
        checkout_url=opened.checkout_url,
        now=now,
    )
    if opened.failure is None:
        return None
    return PaymentFailure(opened.failure.code, opened.failure.message, opened.failure.retryable)


async def attempt_again(
    payments: Payments, checkout: Checkout, method: PaymentMethod | None, *, now
) -> OpenedAttempt:
    """The checkout's next attempt (RetryCheckout): it moves to the attempt, by `method` or
    the one it had, and payment is asked for it under that attempt's own key, so a retried
    call opens one attempt. It returns the patient where the first attempt would have: ""
    keeps the return URL the payment intent was opened with."""
    checkout.retry(now, method)
    assert checkout.payment_id is not None
    return await payments.retry(checkout.payment_id, retry_key(checkout), checkout.method.value, "")


def ensure_was_stored(
    checkout_id: str, *, happened_at: datetime | None, now: datetime, wait: timedelta
) -> None:
    """Payment's news about a checkout not found: one that may still be committing is
    redelivered until `wait` has passed since payment's news happened (always, when it
    does not say when); after that the checkout was never stored."""
    if happened_at is None or now - happened_at < wait:
        raise CheckoutNotYetVisible(checkout_id)


def refund_unknown_checkout(
    uow: Unit, kind: str, checkout_id: str, payment_id: str, now: datetime
) -> None:
    """Payment took money for a checkout whose own transaction never committed: nothing
    was bought, so all of it goes back."""
    rejection = PurchaseRejected(payment_id, Purchase(kind, checkout_id), UNKNOWN_CHECKOUT, now)
    uow.emit(outcome_message(rejection), correlation_id=checkout_id)
