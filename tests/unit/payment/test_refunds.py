from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.errors import AmountNotPositive, CurrencyMismatch, IdempotencyKeyReused, MalformedField
from runtime.money import Money
from services.payment.domain.errors import (
    NothingLeftToRefund,
    PaymentNotCaptured,
    RefundExceedsCaptured,
    RefundKeyReused,
    RefundOutcomeContradicted,
    TopUpNotRefundable,
)
from services.payment.domain.events import Change, PaymentRefunded, RefundFailed, RefundStarted
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.refund import Refund, RefundDestination, RefundStatus
from services.payment.domain.refunding import request_refund
from services.payment.domain.settlement import (
    GatewayPaid,
    GatewayRefunded,
    GatewayRefundFailed,
    GatewayRefundPending,
    settle,
    settle_refund,
)
from services.payment.domain.wallet import top_up
from tests.unit.payment.builders import (
    PATIENT,
    T0,
    a_payment,
    doctor_line,
    event_types,
    open_attempt,
    paid,
    platform_line,
    usd,
)

LATER = T0 + timedelta(hours=1)
ORIGINAL = RefundDestination.ORIGINAL_METHOD


def a_paid_payment(amount: Money | None = None, lines=None) -> Payment:
    payment = a_payment(amount, lines)
    open_attempt(payment)
    settle(payment, paid(payment), T0)
    return payment


def refund(
    payment: Payment,
    amount: Money | None = None,
    key: str = "refund:payment-1",
    reason: str = "slot_taken",
    destination: RefundDestination = ORIGINAL,
) -> Refund:
    return request_refund(
        payment, key=key, amount=amount, reason=reason, destination=destination, at=LATER
    )


def test_a_full_gateway_refund_waits_for_the_gateway_then_refunds_the_payment() -> None:
    payment = a_paid_payment()
    started = refund(payment)
    assert (started.amount, started.status, started.via_gateway) == (
        usd(10_000),
        RefundStatus.PENDING,
        True,
    )
    assert payment.status is PaymentStatus.REFUND_PENDING and payment.refunded.is_zero
    assert isinstance(payment.events[-1], RefundStarted)
    assert payment.events[-1].gateway_ref == "cs_1"

    assert settle_refund(payment, GatewayRefunded(started.id, "re_1"), LATER) is Change.APPLIED
    assert payment.status is PaymentStatus.REFUNDED and payment.refunded == usd(10_000)
    refunded = payment.events[-1]
    assert isinstance(refunded, PaymentRefunded)
    assert (refunded.full, refunded.refunded_total, refunded.reason) == (
        True,
        usd(10_000),
        "slot_taken",
    )
    assert started.gateway_ref == "re_1"


def test_the_gateway_confirming_a_refund_twice_changes_nothing() -> None:
    payment = a_paid_payment()
    started = refund(payment)
    settle_refund(payment, GatewayRefunded(started.id, "re_1"), LATER)
    assert settle_refund(payment, GatewayRefunded(started.id, "re_1"), LATER) is Change.NONE
    assert event_types(payment).count("PaymentRefunded") == 1


def test_a_pending_refund_learns_its_gateway_reference_once() -> None:
    payment = a_paid_payment()
    started = refund(payment)
    assert settle_refund(payment, GatewayRefundPending(started.id, "re_1"), LATER) is (
        Change.APPLIED
    )
    assert settle_refund(payment, GatewayRefundPending(started.id, "re_1"), LATER) is Change.NONE
    assert started.gateway_ref == "re_1" and started.status is RefundStatus.PENDING


def test_a_partial_refund_leaves_the_payment_partially_refunded() -> None:
    payment = a_paid_payment()
    part = refund(payment, usd(2_500), key="cancel:reservation-1")
    settle_refund(payment, GatewayRefunded(part.id), LATER)
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
    assert (payment.refunded, payment.refundable) == (usd(2_500), usd(7_500))
    rest = refund(payment, key="admin:rest", reason="admin_goodwill")
    assert rest.amount == usd(7_500)
    settle_refund(payment, GatewayRefunded(rest.id), LATER)
    assert payment.status is PaymentStatus.REFUNDED
    assert isinstance(payment.events[-1], PaymentRefunded) and payment.events[-1].full


def test_a_refund_beyond_what_was_captured_is_refused_with_what_is_left() -> None:
    payment = a_paid_payment()
    refund(payment, usd(6_000), key="first")
    with pytest.raises(RefundExceedsCaptured) as refused:
        refund(payment, usd(4_001), key="second")
    assert refused.value.metadata["refundable_minor"] == "4000"
    assert refused.value.metadata["captured_minor"] == "10000"
    assert len(payment.refunds) == 1


def test_refunds_under_way_count_so_two_racing_refunds_cannot_exceed_the_capture() -> None:
    payment = a_paid_payment()
    refund(payment, key="first")
    with pytest.raises(NothingLeftToRefund):
        refund(payment, key="second")


def test_the_same_refund_key_is_the_same_refund_however_often_it_comes() -> None:
    payment = a_paid_payment()
    first = refund(payment)
    events = len(payment.events)
    for _ in range(3):
        assert refund(payment) is first
    settle_refund(payment, GatewayRefunded(first.id), LATER)
    assert refund(payment) is first
    assert len(payment.refunds) == 1 and len(payment.events) == events + 1


def test_a_refund_key_reused_for_another_request_is_refused() -> None:
    payment = a_paid_payment()
    refund(payment, usd(1_000), key="k")
    for different in (
        {"amount": usd(2_000)},
        {"amount": usd(1_000), "reason": "admin_goodwill"},
        {"amount": usd(1_000), "destination": RefundDestination.WALLET},
    ):
        with pytest.raises(RefundKeyReused) as refused:
            refund(payment, key="k", **different)
        assert isinstance(refused.value, IdempotencyKeyReused)


def test_refund_ids_derive_from_the_key_so_a_retried_handler_asks_the_gateway_once() -> None:
    assert refund(a_paid_payment()).id == refund(a_paid_payment()).id


def test_a_refund_to_the_wallet_succeeds_at_once_whatever_the_method() -> None:
    payment = a_paid_payment()
    to_wallet = refund(payment, usd(4_000), destination=RefundDestination.WALLET)
    assert (to_wallet.status, to_wallet.via_gateway) == (RefundStatus.SUCCEEDED, False)
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
    assert isinstance(payment.events[-1], PaymentRefunded)


def test_a_refused_gateway_refund_gives_its_amount_back_to_what_can_be_refunded() -> None:
    payment = a_paid_payment()
    started = refund(payment)
    failure = GatewayRefundFailed(started.id, "charge_disputed", "Disputed", "re_1")
    assert settle_refund(payment, failure, LATER) is Change.APPLIED
    assert payment.status is PaymentStatus.SUCCEEDED and payment.refundable == usd(10_000)
    assert isinstance(payment.events[-1], RefundFailed)
    assert settle_refund(payment, failure, LATER) is Change.NONE
    again = refund(payment, key="refund:payment-1:again")
    assert again.amount == usd(10_000)


def test_the_gateway_reversing_its_word_on_a_refund_needs_an_operator() -> None:
    payment = a_paid_payment()
    started = refund(payment)
    settle_refund(payment, GatewayRefunded(started.id), LATER)
    with pytest.raises(RefundOutcomeContradicted):
        settle_refund(payment, GatewayRefundFailed(started.id, "failed"), LATER)
    other = a_paid_payment()
    failed = refund(other)
    settle_refund(other, GatewayRefundFailed(failed.id, "failed"), LATER)
    with pytest.raises(RefundOutcomeContradicted):
        settle_refund(other, GatewayRefunded(failed.id), LATER)


def test_an_unpaid_payment_has_nothing_to_refund() -> None:
    payment = a_payment()
    open_attempt(payment)
    with pytest.raises(PaymentNotCaptured):
        refund(payment)


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (Money(100, "EUR"), CurrencyMismatch),
        (usd(0), AmountNotPositive),
        (usd(-5), AmountNotPositive),
    ],
)
def test_a_refund_amount_must_be_positive_and_in_the_payments_currency(amount, error) -> None:
    with pytest.raises(error):
        refund(a_paid_payment(), amount)


def test_a_refund_reason_is_a_machine_code() -> None:
    with pytest.raises(MalformedField):
        refund(a_paid_payment(), reason="Slot was taken!")


def test_a_confirmed_top_up_is_not_refunded() -> None:
    payment = top_up(
        payment_id="topup-1",
        patient_id=PATIENT,
        amount=usd(5_000),
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
    )
    open_attempt(payment)
    settle(payment, paid(payment), T0)
    with pytest.raises(TopUpNotRefundable):
        refund(payment, key="refund:topup-1")


def test_a_refund_is_spread_over_the_payee_lines_in_proportion_to_what_each_has_left() -> None:
    payment = a_paid_payment(usd(10_000), [doctor_line(usd(7_000)), platform_line(usd(3_000))])
    first = refund(payment, usd(5_001), key="a", destination=RefundDestination.WALLET)
    second = refund(payment, usd(4_999), key="b", destination=RefundDestination.WALLET)
    assert first.allocation == (3_501, 1_500)
    assert second.allocation == (3_499, 1_500)


def test_a_rejected_capture_whose_refund_failed_can_be_refunded_again() -> None:
    payment = a_payment()
    attempt = open_attempt(payment)
    settle(payment, GatewayPaid("cs_1", usd(1)), T0)
    settle_refund(payment, GatewayRefundFailed(payment.refunds[0].id, "failed"), LATER)
    assert payment.status is PaymentStatus.REFUND_PENDING  # the money is still owed back
    again = refund_with_capture(
        payment, key="retry", reason="amount_mismatch", capture_id=attempt.id
    )
    settle_refund(payment, GatewayRefunded(again.id), LATER)
    assert payment.status is PaymentStatus.REFUNDED


def refund_with_capture(payment: Payment, **kwargs) -> Refund:
    return request_refund(payment, amount=None, destination=ORIGINAL, at=LATER, **kwargs)


def test_a_refund_of_a_rejected_capture_never_exceeds_it() -> None:
    payment = a_payment()
    attempt = open_attempt(payment)
    settle(payment, GatewayPaid("cs_1", usd(1)), T0)
    with pytest.raises(NothingLeftToRefund):
        refund_with_capture(payment, key="x", reason="amount_mismatch", capture_id=attempt.id)


@pytest.mark.parametrize(
    ("asked", "through_gateway", "to_wallet"),
    [
        # Half of 12.350 KWD: Stripe takes KWD only in tens of fils; a half step goes up.
        (6175, 6180, 6175),
        (6174, 6170, 6174),
        # A whole step is left as asked.
        (6170, 6170, 6170),
        # Up to all of it: 12.346 of a 12.350 payment goes back as the whole 12.350.
        (12346, 12350, 12346),
    ],
)
def test_a_gateway_refund_goes_in_the_gateways_steps_and_a_wallet_refund_as_asked(
    asked: int, through_gateway: int, to_wallet: int
) -> None:
    kwd = Money(12_350, "KWD")
    for destination, expected in (
        (ORIGINAL, through_gateway),
        (RefundDestination.WALLET, to_wallet),
    ):
        payment = a_paid_payment(kwd)

        def ask(payment: Payment = payment, destination: RefundDestination = destination) -> Refund:
            return request_refund(
                payment,
                key="refund:half",
                amount=Money(asked, "KWD"),
                reason="patient_cancelled",
                destination=destination,
                at=LATER,
                gateway_step_minor=10,
            )

        started = ask()
        assert started.amount == Money(expected, "KWD"), destination
        # The same request again is the same refund (the key remembers what was asked).
        assert ask() is started


def test_a_refund_never_rounds_past_what_is_left() -> None:
    payment = a_paid_payment(Money(12_350, "KWD"))
    request_refund(
        payment,
        key="refund:wallet",
        amount=Money(3, "KWD"),
        reason="patient_cancelled",
        destination=RefundDestination.WALLET,
        at=LATER,
    )
    # 12.347 left, not a whole step: the rest through the gateway is a step down, 12.340.
    rest = request_refund(
        payment,
        key="refund:rest",
        amount=Money(12_347, "KWD"),
        reason="patient_cancelled",
        destination=ORIGINAL,
        at=LATER,
        gateway_step_minor=10,
    )
    assert rest.amount == Money(12_340, "KWD")
