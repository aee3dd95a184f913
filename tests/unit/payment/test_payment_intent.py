from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runtime.errors import (
    CurrencyMismatch,
    FailedPrecondition,
    FieldRequired,
    InvalidArgument,
    MalformedField,
)
from runtime.money import Money
from services.payment.domain.attempt import AttemptStatus
from services.payment.domain.errors import (
    AttemptInProgress,
    AttemptStillOpen,
    CheckoutAlreadyAttached,
    ExpiryNotInFuture,
    FieldTooLong,
    InvalidPayee,
    PayeeLinesDoNotAddUp,
    PayeeLinesMissing,
    PaymentAlreadySettled,
    PaymentClosed,
    PaymentNotYetExpired,
    TooManyPayeeLines,
    UnknownAttempt,
    WalletCannotPayTopUp,
)
from services.payment.domain.events import Change, PaymentExpired, PaymentFailed
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.purchase import PayeeKind, PayeeLine, PaymentMethod, Purchase
from services.payment.domain.settlement import GatewayDeclined, settle
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


def test_a_new_payment_requires_payment_and_has_tried_nothing() -> None:
    payment = a_payment()
    assert payment.status is PaymentStatus.REQUIRES_PAYMENT
    assert payment.attempts == [] and payment.events == []
    assert payment.is_open and payment.takes_attempts(T0)


def test_payee_lines_for_a_doctor_and_the_platform_make_one_payment() -> None:
    payment = a_payment(usd(10_500), [doctor_line(usd(10_000)), platform_line(usd(500))])
    assert [line.payee for line in payment.lines] == [PayeeKind.DOCTOR, PayeeKind.PLATFORM]


def test_payee_lines_that_do_not_add_up_to_the_amount_are_refused() -> None:
    with pytest.raises(PayeeLinesDoNotAddUp):
        a_payment(usd(10_000), [doctor_line(usd(9_000)), platform_line(usd(500))])


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], PayeeLinesMissing),
        ([doctor_line(usd(1))] * 51, TooManyPayeeLines),
        ([doctor_line(Money(10_000, "EUR"))], CurrencyMismatch),
        ([doctor_line(usd(10_500)), doctor_line(usd(-500))], InvalidPayee),
        ([doctor_line(usd(10_000), doctor="")], FieldRequired),
        ([PayeeLine(PayeeKind.PLATFORM, "someone", usd(10_000))], InvalidPayee),
        ([PayeeLine(PayeeKind.WALLET, PATIENT, usd(10_000))], InvalidPayee),
    ],
)
def test_payee_lines_that_break_a_rule_are_refused(lines, error) -> None:
    with pytest.raises(error) as refused:
        a_payment(usd(10_000), lines)
    assert isinstance(refused.value, InvalidArgument)


@pytest.mark.parametrize("amount", [usd(0), usd(-1), usd(100_000_001)])
def test_an_amount_zero_negative_or_beyond_the_limit_is_refused(amount: Money) -> None:
    with pytest.raises(InvalidArgument):
        a_payment(amount, [doctor_line(usd(1))])


@pytest.mark.parametrize(
    ("purchase", "error"),
    [(("Booking", "c-1"), MalformedField), (("booking", ""), FieldRequired)],
)
def test_a_purchase_needs_a_lower_case_kind_and_a_ref(purchase, error) -> None:
    with pytest.raises(error):
        Purchase(*purchase)


def test_an_oversized_field_is_refused() -> None:
    with pytest.raises(FieldTooLong):
        Purchase("booking", "x" * 129)
    with pytest.raises(FieldTooLong):
        a_payment(payment_id="p" * 129)


def test_a_payment_that_expires_before_it_is_created_is_refused() -> None:
    with pytest.raises(ExpiryNotInFuture):
        a_payment(expires_in=timedelta(0))


def test_times_are_utc_so_that_no_daylight_saving_shifts_an_expiry() -> None:
    with pytest.raises(ValueError):
        Payment.create(
            id="p",
            purchase=Purchase("booking", "c"),
            patient_id=PATIENT,
            amount=usd(100),
            lines=[doctor_line(usd(100))],
            method=PaymentMethod.GATEWAY,
            created_at=datetime(2026, 5, 3, 10, tzinfo=timezone(timedelta(hours=3, minutes=30))),
            expires_at=datetime(2026, 5, 3, 11, tzinfo=UTC),
        )


def test_a_top_up_pays_only_into_the_payers_own_wallet() -> None:
    payment = top_up(
        payment_id="topup-1",
        patient_id=PATIENT,
        amount=usd(5_000),
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
    )
    assert payment.purchase.is_top_up and payment.lines[0].payee is PayeeKind.WALLET
    with pytest.raises(InvalidPayee):
        a_payment(
            lines=[PayeeLine(PayeeKind.WALLET, "someone-else", usd(10_000))],
            purchase=Purchase("wallet_topup", "t-1"),
        )


def test_a_top_up_is_never_paid_from_the_wallet_it_tops_up() -> None:
    with pytest.raises(WalletCannotPayTopUp):
        a_payment(
            lines=[PayeeLine(PayeeKind.WALLET, PATIENT, usd(10_000))],
            purchase=Purchase("wallet_topup", "t-1"),
            method=PaymentMethod.WALLET,
        )


def test_starting_a_gateway_attempt_puts_the_payment_in_processing() -> None:
    payment = a_payment()
    attempt = open_attempt(payment, "cs_1")
    assert payment.status is PaymentStatus.PROCESSING
    assert (attempt.number, attempt.status, attempt.gateway_ref) == (
        1,
        AttemptStatus.PENDING,
        "cs_1",
    )
    assert payment.checkout_url == "https://gateway.example/pay/cs_1"


def test_attempt_ids_are_derived_so_a_retried_handler_asks_the_gateway_with_the_same_key() -> None:
    first, second = a_payment(), a_payment()
    assert first.start_attempt(PaymentMethod.GATEWAY, T0).id == (
        second.start_attempt(PaymentMethod.GATEWAY, T0).id
    )


def test_attaching_the_same_checkout_twice_changes_nothing() -> None:
    payment = a_payment()
    attempt = open_attempt(payment, "cs_1")
    url = "https://gateway.example/pay/cs_1"
    assert payment.attach_checkout(attempt.id, "cs_1", url, T0) is Change.NONE


def test_an_attempt_never_gets_a_second_checkout_session() -> None:
    payment = a_payment()
    attempt = open_attempt(payment, "cs_1")
    with pytest.raises(CheckoutAlreadyAttached):
        payment.attach_checkout(attempt.id, "cs_2", "https://gateway.example/pay/cs_2", T0)


def test_one_attempt_at_a_time_so_nobody_pays_twice() -> None:
    payment = a_payment()
    open_attempt(payment)
    with pytest.raises(AttemptInProgress):
        payment.start_attempt(PaymentMethod.GATEWAY, T0)


def test_a_failed_attempt_can_be_retried_on_the_same_intent() -> None:
    payment = a_payment()
    open_attempt(payment, "cs_1")
    settle(payment, GatewayDeclined("cs_1", "card_declined", "Your card was declined."), T0)
    retry = open_attempt(payment, "cs_2", T0 + timedelta(minutes=1))
    assert retry.number == 2 and payment.status is PaymentStatus.PROCESSING
    assert payment.attempts[0].failure is not None
    assert payment.attempts[0].failure.code == "card_declined"


def test_no_retry_after_the_intent_expired_even_before_the_expiry_job_ran() -> None:
    payment = a_payment()
    with pytest.raises(PaymentClosed):
        payment.start_attempt(PaymentMethod.GATEWAY, payment.expires_at)
    assert not payment.takes_attempts(payment.expires_at)


def test_no_new_attempt_once_the_payment_succeeded() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, paid(payment), T0)
    with pytest.raises(PaymentAlreadySettled) as refused:
        payment.start_attempt(PaymentMethod.GATEWAY, T0)
    assert refused.value.metadata["status"] == "succeeded"


def test_a_cancelled_payment_tells_the_purchase_it_failed_for_good() -> None:
    payment = a_payment()
    open_attempt(payment)
    assert payment.cancel(T0) is Change.APPLIED
    assert payment.status is PaymentStatus.CANCELED
    failed = payment.events[-1]
    assert isinstance(failed, PaymentFailed)
    assert (failed.failure.code, failed.retryable) == ("canceled", False)
    assert [a.gateway_ref for a in payment.sessions_to_expire] == ["cs_1"]
    with pytest.raises(PaymentClosed):
        payment.start_attempt(PaymentMethod.GATEWAY, T0)


def test_cancelling_twice_changes_nothing() -> None:
    payment = a_payment()
    payment.cancel(T0)
    assert payment.cancel(T0) is Change.NONE
    assert event_types(payment) == ["PaymentFailed"]


def test_a_paid_payment_cannot_be_cancelled() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, paid(payment), T0)
    with pytest.raises(PaymentAlreadySettled):
        payment.cancel(T0)


def test_an_unpaid_payment_expires_at_its_expiry() -> None:
    payment = a_payment()
    assert payment.expire(payment.expires_at) is Change.APPLIED
    assert payment.status is PaymentStatus.EXPIRED
    assert isinstance(payment.events[-1], PaymentExpired)
    assert payment.expire(payment.expires_at) is Change.NONE


def test_a_payment_does_not_expire_early() -> None:
    payment = a_payment()
    with pytest.raises(PaymentNotYetExpired):
        payment.expire(payment.expires_at - timedelta(seconds=1))


def test_an_attempt_the_gateway_never_answered_holds_expiry_back_for_a_grace_period() -> None:
    payment = a_payment()
    open_attempt(payment)
    with pytest.raises(AttemptStillOpen):
        payment.expire(payment.expires_at, pending_grace=timedelta(minutes=15))
    grace_over = payment.expires_at + timedelta(minutes=15)
    assert payment.expire(grace_over, pending_grace=timedelta(minutes=15)) is Change.APPLIED
    assert payment.status is PaymentStatus.EXPIRED
    # The attempt's own status is the gateway's word, not ours.
    assert payment.attempts[0].status is AttemptStatus.PENDING


def test_the_expiry_job_losing_a_race_to_a_payment_changes_nothing() -> None:
    payment = a_payment()
    open_attempt(payment)
    settle(payment, paid(payment), T0)
    assert payment.expire(payment.expires_at + timedelta(days=1)) is Change.NONE
    assert payment.status is PaymentStatus.SUCCEEDED


def test_a_report_about_a_session_this_payment_never_opened_is_not_found() -> None:
    payment = a_payment()
    with pytest.raises(UnknownAttempt):
        settle(payment, paid(payment, "cs_unknown"), T0)


def test_rule_errors_are_the_kinds_the_grpc_layer_maps() -> None:
    payment = a_payment()
    open_attempt(payment)
    with pytest.raises(FailedPrecondition) as refused:
        payment.start_attempt(PaymentMethod.GATEWAY, T0)
    assert refused.value.metadata["subject"] == "payment:payment-1"
