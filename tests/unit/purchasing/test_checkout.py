"""The payment progress every checkout shares, on a checkout that sells nothing in
particular: what booking's and consultation's checkouts get from purchasing, tested once.
Their own decisions (a slot, a clinical session) are tested with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from purchasing import checkout as purchasing
from purchasing.checkout import (
    CheckoutStatus,
    ConfirmedPayment,
    PaymentFailure,
    PaymentMethod,
)
from purchasing.errors import CheckoutExpired, CheckoutNotRetryable
from purchasing.events import (
    DUPLICATE_PAYMENT,
    Purchase,
    PurchaseFulfilled,
    PurchaseRejected,
)
from runtime.errors import FailedPrecondition

NOW = datetime(2027, 3, 3, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PRICE = ("USD", 5_000)
OURS = "payment-1"
DECLINED = PaymentFailure("card_declined", "Your card was declined.", retryable=True)
FINAL = PaymentFailure("expired_card", "The intent was cancelled.", retryable=False)


@dataclass(kw_only=True)
class Voucher(purchasing.Checkout):
    """A checkout whose purchase can always be delivered, for the right amount."""

    PURCHASE_KIND = "voucher"

    def payment_confirmed(self, payment: ConfirmedPayment, now: datetime) -> bool:
        if not self.take_payment(payment, now):
            return False
        if payment.amount != self.price:
            self.refused("amount_mismatch", now)
            return False
        self.fulfilled(now)
        return True


def a_checkout(method: PaymentMethod = PaymentMethod.GATEWAY) -> Voucher:
    checkout = Voucher(
        id="checkout-1",
        patient_id="patient-1",
        price=PRICE,
        method=method,
        expires_at=NOW + 10 * MINUTE,
        created_at=NOW,
        updated_at=NOW,
    )
    opened(checkout, NOW)
    return checkout


def opened(checkout: Voucher, at: datetime) -> None:
    checkout.payment_created(
        payment_id=OURS,
        attempt_id=f"attempt-{checkout.attempt}",
        checkout_url=f"https://pay.example/{checkout.attempt}",
        now=at,
    )


def paid(payment_id: str = OURS, amount: object = PRICE, at: datetime = NOW) -> ConfirmedPayment:
    return ConfirmedPayment(payment_id, amount, at)


def test_a_confirmed_payment_is_fulfilled_once_and_told_to_payment():
    checkout = a_checkout()
    assert checkout.payment_confirmed(paid(), NOW + MINUTE)
    assert not checkout.payment_confirmed(paid(), NOW + 2 * MINUTE)
    assert checkout.status is CheckoutStatus.CONFIRMED
    assert checkout.events == [
        PurchaseFulfilled(OURS, Purchase("voucher", "checkout-1"), NOW + MINUTE)
    ]


def test_a_second_different_payment_is_refunded_once_however_often_it_comes():
    checkout = a_checkout()
    checkout.payment_confirmed(paid(), NOW)
    for _ in range(3):
        checkout.payment_confirmed(paid("payment-2"), NOW + MINUTE)
    assert checkout.status is CheckoutStatus.CONFIRMED and checkout.payment_id == OURS
    assert checkout.events[1:] == [
        PurchaseRejected("payment-2", checkout.purchase, DUPLICATE_PAYMENT, NOW + MINUTE)
    ]


def test_a_refused_payment_is_refunded_and_the_same_again_changes_nothing():
    checkout = a_checkout()
    checkout.payment_confirmed(paid(amount=("USD", 1)), NOW)
    checkout.payment_confirmed(paid(amount=("USD", 1)), NOW + MINUTE)
    assert checkout.status is CheckoutStatus.REFUNDED
    assert checkout.events == [PurchaseRejected(OURS, checkout.purchase, "amount_mismatch", NOW)]


def test_a_payment_confirmed_after_a_failure_or_expiry_is_still_answered():
    for end in ("fail", "expire"):
        checkout = a_checkout()
        if end == "fail":
            checkout.payment_failed(DECLINED, now=NOW)
        else:
            checkout.expire(NOW + 10 * MINUTE)
        assert checkout.payment_confirmed(paid(), NOW + 11 * MINUTE), end
        assert checkout.payment_failure is None


def test_a_retry_starts_a_new_attempt_maybe_with_another_method():
    checkout = a_checkout(PaymentMethod.WALLET)
    checkout.payment_failed(DECLINED, now=NOW + MINUTE, payment_id=OURS, attempt_id="attempt-1")
    assert checkout.retryable(NOW + MINUTE)
    checkout.retry(NOW + 2 * MINUTE, PaymentMethod.GATEWAY)
    assert (checkout.status, checkout.attempt, checkout.method) == (
        CheckoutStatus.AWAITING_PAYMENT,
        2,
        PaymentMethod.GATEWAY,
    )
    assert (checkout.attempt_id, checkout.checkout_url, checkout.payment_failure) == (
        None,
        None,
        None,
    )


def test_late_failures_of_another_payment_or_an_older_attempt_change_nothing():
    checkout = a_checkout()
    checkout.payment_failed(DECLINED, now=NOW, payment_id=OURS, attempt_id="attempt-1")
    checkout.retry(NOW + MINUTE)
    opened(checkout, NOW + MINUTE)
    assert not checkout.payment_failed(DECLINED, now=NOW, attempt_id="attempt-1")
    assert not checkout.payment_failed(DECLINED, now=NOW, payment_id="payment-other")
    assert checkout.status is CheckoutStatus.AWAITING_PAYMENT
    checkout.payment_confirmed(paid(), NOW + 2 * MINUTE)
    assert not checkout.payment_failed(DECLINED, now=NOW + 3 * MINUTE)
    assert checkout.status is CheckoutStatus.CONFIRMED


def test_a_patient_may_leave_an_open_page_for_another_try_with_another_method():
    checkout = a_checkout()
    checkout.retry(NOW + MINUTE, PaymentMethod.WALLET)
    assert (checkout.status, checkout.attempt, checkout.method, checkout.attempt_id) == (
        CheckoutStatus.AWAITING_PAYMENT,
        2,
        PaymentMethod.WALLET,
        None,
    )


@pytest.mark.parametrize(
    ("state", "why"),
    [
        # Payment has not yet opened the attempt: there is no page to leave.
        ("awaiting", "still in progress"),
        ("confirmed", "already paid"),
        ("refunded", "start a new checkout"),
        ("failed for good", "can no longer be retried"),
    ],
)
def test_what_cannot_be_retried_says_why(state: str, why: str):
    checkout = a_checkout()
    if state == "awaiting":
        checkout.retry(NOW)  # its attempt not yet opened by payment
    elif state == "confirmed":
        checkout.payment_confirmed(paid(), NOW)
    elif state == "refunded":
        checkout.payment_confirmed(paid(amount=("USD", 1)), NOW)
    elif state == "failed for good":
        checkout.payment_failed(FINAL, now=NOW)
    with pytest.raises(CheckoutNotRetryable, match=why) as error:
        checkout.retry(NOW + MINUTE)
    assert error.value.metadata["status"] == checkout.status.value


def test_an_expired_or_lapsed_checkout_cannot_be_retried():
    lapsed = a_checkout()
    lapsed.payment_failed(DECLINED, now=NOW)
    with pytest.raises(CheckoutExpired) as error:
        lapsed.retry(lapsed.expires_at)
    assert error.value.metadata["expires_at"] == lapsed.expires_at.isoformat()
    expired = a_checkout()
    assert expired.expire(NOW) and not expired.expire(NOW)
    with pytest.raises(CheckoutExpired):
        expired.retry(NOW)


def test_expiry_leaves_an_answered_checkout_alone():
    checkout = a_checkout()
    checkout.payment_confirmed(paid(), NOW)
    assert not checkout.expire(NOW + 20 * MINUTE)
    assert checkout.status is CheckoutStatus.CONFIRMED


# Any order of what payment and the patient can say, any number of times.

confirmations = st.tuples(st.just("confirm"), st.sampled_from([OURS, "payment-2"]), st.booleans())
steps = st.one_of(
    confirmations,
    st.tuples(st.just("fail"), st.sampled_from(["attempt-1", "attempt-2"]), st.booleans()),
    st.tuples(st.just("expire")),
    st.tuples(st.just("retry"), st.sampled_from(list(PaymentMethod))),
    st.tuples(st.just("tick"), st.sampled_from([1, 5, 30])),
)


def run(checkout: Voucher, moves: list[tuple], start: datetime = NOW) -> datetime:
    now = start
    for kind, *args in moves:
        if kind == "tick":
            now += args[0] * MINUTE
        elif kind == "confirm":
            payment_id, right = args
            checkout.payment_confirmed(paid(payment_id, PRICE if right else ("USD", 1)), now)
        elif kind == "fail":
            attempt, retryable = args
            failure = DECLINED if retryable else FINAL
            checkout.payment_failed(failure, now=now, payment_id=OURS, attempt_id=attempt)
        elif kind == "expire":
            checkout.expire(now)
        elif kind == "retry":
            try:
                checkout.retry(now, args[0])
            except FailedPrecondition:
                continue
            opened(checkout, now)
    return now


def answers(checkout: Voucher) -> dict[str, int]:
    counted: dict[str, int] = {}
    for event in checkout.events:
        counted[event.payment_id] = counted.get(event.payment_id, 0) + 1
    return counted


@given(st.lists(steps, max_size=30))
def test_every_confirmed_payment_is_answered_exactly_once(moves):
    checkout = a_checkout()
    run(checkout, moves)
    confirmed = {args[0] for kind, *args in moves if kind == "confirm"}
    assert answers(checkout) == dict.fromkeys(confirmed, 1)
    assert (checkout.status in purchasing.SETTLED) == bool(confirmed)
    fulfilled = [e for e in checkout.events if isinstance(e, PurchaseFulfilled)]
    assert len(fulfilled) <= 1


@given(st.lists(steps, max_size=20))
def test_each_message_said_twice_has_the_effect_of_saying_it_once(moves):
    once, twice = a_checkout(), a_checkout()
    run(once, moves)
    run(twice, [move for move in moves for _ in range(2 if move[0] != "tick" else 1)])
    # A retry is the patient's new attempt each time, not a redelivery: left out here.
    if not any(kind == "retry" for kind, *_ in moves):
        assert (twice.status, twice.payment_id, answers(twice)) == (
            once.status,
            once.payment_id,
            answers(once),
        )
