from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.payment.v1 import events_pb2
from nobat.payment.v1 import payment_service_pb2 as pb

from runtime import rpc, wire
from runtime.errors import (
    AmountAboveLimit,
    AmountNotPositive,
    FieldRequired,
    InvalidArgument,
    MalformedField,
    UnknownCurrency,
)
from runtime.wire import money_from, money_message, optional_money_from
from services.payment.adapters.messages import (
    account_from,
    destination_from,
    event_message,
    ledger_entry_message,
    method_from,
    method_or_none_from,
    payee_lines_from,
    payment_message,
    payment_status_from,
    payout_message,
    payout_status_from,
    purchase_from,
    wallet_message,
    wallet_shortfall_message,
    wallet_transaction_message,
)
from services.payment.domain import attempt as attempts
from services.payment.domain.attempt import Attempt
from services.payment.domain.errors import InsufficientWalletBalance
from services.payment.domain.events import (
    CaptureRefunded,
    CaptureRejected,
    PaymentConfirmed,
    PaymentExpired,
    PaymentFailed,
    PaymentRefunded,
    RefundFailed,
    RefundStarted,
)
from services.payment.domain.fees import FeeSplit
from services.payment.domain.ledger import (
    PLATFORM_REVENUE,
    Account,
    AccountKind,
    Entry,
    Memo,
    PostedEntry,
)
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.payouts import FeeBearer, Payout, PayoutRules, PayoutStatus
from services.payment.domain.purchase import PayeeKind, PayeeLine, PaymentMethod, Purchase
from services.payment.domain.refund import RefundDestination
from services.payment.domain.refunding import request_refund
from services.payment.domain.settlement import (
    GatewayDeclined,
    GatewayRefunded,
    settle,
    settle_refund,
)
from services.payment.domain.wallet import Wallet, WalletTransaction, WalletTransactionKind
from tests.unit.payment.builders import (
    DOCTOR,
    PATIENT,
    T0,
    a_payment,
    doctor_line,
    open_attempt,
    paid,
    platform_line,
    usd,
)

DECLINED_AT = T0 + timedelta(minutes=1)
RETRIED_AT = T0 + timedelta(minutes=2)
PAID_AT = T0 + timedelta(minutes=3)
ASKED_AT = T0 + timedelta(minutes=30)
REFUNDED_AT = T0 + timedelta(hours=1)
GATEWAY = checkout_pb2.PAYMENT_METHOD_GATEWAY
PURCHASE = pb.Purchase(kind="booking", ref="checkout-1")
# What every published payment event opens with, for the payment the builders make.
ABOUT = {"payment_id": "payment-1", "purchase": PURCHASE, "patient_id": PATIENT}


def ts(at: datetime) -> Timestamp:
    # Built apart from runtime.wire, so these tests do not grade it by itself.
    return Timestamp(seconds=int(at.timestamp()), nanos=at.microsecond * 1000)


def usd_message(cents: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=cents, currency="USD")


def declined(payment: Payment, ref: str, at: datetime) -> None:
    settle(payment, GatewayDeclined(ref, "card_declined", "Your card was declined."), at)


def decline(retryable: bool) -> checkout_pb2.PaymentFailure:
    return checkout_pb2.PaymentFailure(
        code="card_declined", message="Your card was declined.", retryable=retryable
    )


def gateway_attempt(
    attempt: Attempt,
    status: int,
    opened: datetime,
    settled: datetime,
    failure: checkout_pb2.PaymentFailure | None = None,
) -> pb.PaymentAttempt:
    """The message of an attempt whose gateway session is cs_<its number>."""
    ref = f"cs_{attempt.number}"
    return pb.PaymentAttempt(
        id=attempt.id,
        number=attempt.number,
        method=GATEWAY,
        status=status,
        gateway_ref=ref,
        checkout_url=f"https://gateway.example/pay/{ref}",
        failure=failure,
        created_at=ts(opened),
        settled_at=ts(settled),
    )


def a_payout(split: FeeSplit) -> Payout:
    return Payout.earn(DOCTOR, "payment-1", 0, split, T0, PayoutRules())


def refunded_in_part() -> Payment:
    """Declined once, paid on the second attempt, then a quarter refunded by the gateway."""
    payment = a_payment(lines=[doctor_line(usd(8_000)), platform_line(usd(2_000))])
    open_attempt(payment, "cs_1")
    declined(payment, "cs_1", DECLINED_AT)
    open_attempt(payment, "cs_2", RETRIED_AT)
    settle(payment, paid(payment, "cs_2"), PAID_AT)
    refund = request_refund(
        payment,
        key="goodwill-1",
        amount=usd(2_500),
        reason="admin_goodwill",
        destination=RefundDestination.ORIGINAL_METHOD,
        at=ASKED_AT,
    )
    settle_refund(payment, GatewayRefunded(refund.id, "re_1"), REFUNDED_AT)
    return payment


def invalid_field(translate: Callable[[], object]) -> str:
    """The field the gRPC edge tells the caller is wrong, checking the code on the way."""
    with pytest.raises(InvalidArgument) as refused:
        translate()
    status = rpc.to_status(refused.value, "payment")
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    details = status_pb2.Status.FromString(
        dict(status.trailing_metadata)["grpc-status-details-bin"]
    )
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in details.details)
    (violation,) = bad_request.field_violations
    return violation.field


# Domain -> proto.


def test_a_payment_carries_every_field_attempts_and_refunds_included() -> None:
    payment = refunded_in_part()
    first, second = payment.attempts
    (refund,) = payment.refunds
    expected = pb.Payment(
        id="payment-1",
        purchase=PURCHASE,
        patient_id=PATIENT,
        amount=usd_message(10_000),
        lines=[
            pb.PayeeLine(
                payee_kind=pb.PAYEE_KIND_DOCTOR,
                payee_id=DOCTOR,
                amount=usd_message(8_000),
                description="Appointment, 3 May 10:00",
            ),
            pb.PayeeLine(
                payee_kind=pb.PAYEE_KIND_PLATFORM,
                amount=usd_message(2_000),
                description="Booking fee",
            ),
        ],
        method=GATEWAY,
        status=pb.PAYMENT_STATUS_PARTIALLY_REFUNDED,
        checkout_url="",
        return_url="https://app.example/return",
        attempts=[
            # Paid since: the decline leaves nothing to retry.
            gateway_attempt(first, pb.ATTEMPT_STATUS_FAILED, T0, DECLINED_AT, decline(False)),
            gateway_attempt(second, pb.ATTEMPT_STATUS_SUCCEEDED, RETRIED_AT, PAID_AT),
        ],
        refunded=usd_message(2_500),
        refunds=[
            pb.Refund(
                id=refund.id,
                payment_id="payment-1",
                amount=usd_message(2_500),
                reason="admin_goodwill",
                destination=pb.REFUND_DESTINATION_ORIGINAL_METHOD,
                status=pb.REFUND_STATUS_SUCCEEDED,
                gateway_ref="re_1",
                created_at=ts(ASKED_AT),
                settled_at=ts(REFUNDED_AT),
            )
        ],
        description="Appointment",
        created_at=ts(T0),
        expires_at=ts(T0 + timedelta(minutes=10)),
        confirmed_at=ts(PAID_AT),
        updated_at=ts(REFUNDED_AT),
    )
    message = payment_message(payment)
    assert message == expected
    assert pb.Payment.FromString(message.SerializeToString()) == expected


def test_what_a_payment_message_carries_reads_back_as_the_same_domain_values() -> None:
    payment = refunded_in_part()
    message = payment_message(payment)
    assert purchase_from(message.purchase) == payment.purchase
    assert money_from(message.amount, "amount") == payment.amount
    assert payee_lines_from(message.lines) == list(payment.lines)
    assert method_from(message.method) is payment.method
    assert payment_status_from(message.status) is payment.status
    assert money_from(message.refunded, "refunded") == payment.refunded
    assert destination_from(message.refunds[0].destination) is payment.refunds[0].destination
    instants = [
        wire.timestamp_or_none(message.created_at),
        wire.timestamp_or_none(message.confirmed_at),
    ]
    assert instants == [payment.created_at, payment.confirmed_at]


def test_an_unpaid_payment_has_no_confirmation_time_and_shows_its_open_checkout() -> None:
    payment = a_payment()
    open_attempt(payment, "cs_1")
    message = payment_message(payment)
    assert message.status == pb.PAYMENT_STATUS_PROCESSING
    assert message.checkout_url == "https://gateway.example/pay/cs_1"
    assert not message.HasField("confirmed_at")
    assert not message.attempts[0].HasField("failure")
    assert not message.attempts[0].HasField("settled_at")


def test_the_latest_failure_of_an_open_payment_is_retryable() -> None:
    payment = a_payment()
    open_attempt(payment, "cs_1")
    declined(payment, "cs_1", DECLINED_AT)
    open_attempt(payment, "cs_2", RETRIED_AT)
    declined(payment, "cs_2", PAID_AT)
    message = payment_message(payment)
    assert message.status == pb.PAYMENT_STATUS_REQUIRES_PAYMENT
    # Only the latest failure is the one a retry answers.
    assert [a.failure.retryable for a in message.attempts] == [False, True]


def test_no_failure_is_retryable_once_the_payment_is_cancelled() -> None:
    payment = a_payment()
    open_attempt(payment, "cs_1")
    declined(payment, "cs_1", DECLINED_AT)
    payment.cancel(RETRIED_AT)
    message = payment_message(payment)
    assert message.status == pb.PAYMENT_STATUS_CANCELED
    assert not message.attempts[0].failure.retryable


def test_a_wallet_lists_each_currency_it_holds() -> None:
    wallet = Wallet(PATIENT, {"USD": 500, "EUR": 120}, updated_at=T0)
    assert wallet_message(wallet) == pb.Wallet(
        patient_id=PATIENT,
        balances=[
            money_pb2.Money(amount_minor=120, currency="EUR"),
            usd_message(500),
        ],
        updated_at=ts(T0),
    )
    assert not wallet_message(Wallet(PATIENT)).HasField("updated_at")


def test_a_wallet_transaction_keeps_its_sign() -> None:
    transaction = WalletTransaction(
        "wt-1", PATIENT, WalletTransactionKind.PAYMENT, usd(-700), usd(300), "payment-1", T0
    )
    assert wallet_transaction_message(transaction) == pb.WalletTransaction(
        id="wt-1",
        patient_id=PATIENT,
        kind=pb.WALLET_TRANSACTION_KIND_PAYMENT,
        amount=usd_message(-700),
        balance_after=usd_message(300),
        payment_id="payment-1",
        created_at=ts(T0),
    )


def test_a_wallet_shortfall_says_what_a_top_up_must_add() -> None:
    error = InsufficientWalletBalance(PATIENT, usd(300), usd(1_000))
    assert wallet_shortfall_message(error) == pb.WalletShortfall(
        balance=usd_message(300), required=usd_message(1_000), shortfall=usd_message(700)
    )


def test_a_payout_shows_its_split_after_refunds_not_the_split_it_was_earned_with() -> None:
    earned = FeeSplit(usd(10_000), usd(300), usd(320), usd(9_380))
    payout = a_payout(earned)
    payout.take_back(usd(10_000), FeeBearer.PLATFORM, DECLINED_AT)
    assert payout_message(payout) == pb.Payout(
        id=payout.id,
        doctor_id=DOCTOR,
        payment_id="payment-1",
        gross=usd_message(0),
        platform_fee=usd_message(0),
        gateway_fee=usd_message(0),
        net=usd_message(0),
        status=pb.PAYOUT_STATUS_REVERSED,
        earned_at=ts(T0),
        release_at=ts(T0 + timedelta(days=30)),
        reversed_at=ts(DECLINED_AT),
    )


def test_a_released_payout_has_its_release_time() -> None:
    payout = a_payout(FeeSplit(usd(100), usd(3), usd(0), usd(97)))
    payout.release(REFUNDED_AT + timedelta(days=30))
    message = payout_message(payout)
    assert (message.status, message.gross, message.net) == (
        pb.PAYOUT_STATUS_RELEASED,
        usd_message(100),
        usd_message(97),
    )
    assert message.released_at == ts(REFUNDED_AT + timedelta(days=30))
    assert not message.HasField("reversed_at")


def test_a_ledger_entry_names_its_account_and_its_transaction() -> None:
    wallet = Account.patient_wallet(PATIENT)

    def posted(entry_id: int, entry: Entry) -> PostedEntry:
        return PostedEntry(entry_id, "tx-1", Memo.REFUND, "payment-1", entry, REFUNDED_AT)

    assert ledger_entry_message(posted(2, Entry(wallet, usd(-500)))) == pb.LedgerEntry(
        id="2",
        transaction_id="tx-1",
        account=pb.LedgerAccount(kind=pb.LEDGER_ACCOUNT_KIND_PATIENT_WALLET, owner_id=PATIENT),
        amount=usd_message(-500),
        payment_id="payment-1",
        memo="refund",
        created_at=ts(REFUNDED_AT),
    )
    platform = ledger_entry_message(posted(1, Entry(PLATFORM_REVENUE, usd(500)))).account
    assert platform == pb.LedgerAccount(kind=pb.LEDGER_ACCOUNT_KIND_PLATFORM_REVENUE)


def test_money_goes_out_as_minor_units_and_code() -> None:
    assert money_message(usd(-1)) == usd_message(-1)


# Domain events -> published protos.


def event_of(payment: Payment, kind: type) -> object:
    (event,) = [event for event in payment.events if isinstance(event, kind)]
    return event


def test_a_confirmed_payment_is_published_with_its_lines_and_attempt() -> None:
    payment = refunded_in_part()
    second = payment.attempts[1]
    assert event_message(event_of(payment, PaymentConfirmed)) == events_pb2.PaymentConfirmed(
        **ABOUT,
        amount=usd_message(10_000),
        method=GATEWAY,
        lines=payment_message(payment).lines,
        attempt_id=second.id,
        gateway_ref="cs_2",
        confirmed_at=ts(PAID_AT),
    )


def test_a_failed_attempt_is_published_retryable_as_the_domain_said() -> None:
    payment = refunded_in_part()
    assert event_message(event_of(payment, PaymentFailed)) == events_pb2.PaymentFailed(
        **ABOUT,
        attempt_id=payment.attempts[0].id,
        method=GATEWAY,
        # Retryable when it happened, whatever came after.
        failure=decline(retryable=True),
        failed_at=ts(DECLINED_AT),
    )


def test_a_cancelled_payment_is_published_as_a_failure_not_retryable() -> None:
    payment = a_payment()
    payment.cancel(RETRIED_AT)
    message = event_message(event_of(payment, PaymentFailed))
    assert isinstance(message, events_pb2.PaymentFailed)
    assert message.failure == checkout_pb2.PaymentFailure(
        code=attempts.CANCELED.code, message=attempts.CANCELED.message, retryable=False
    )
    assert message.attempt_id == ""


def test_an_expired_payment_is_published() -> None:
    payment = a_payment()
    expired_at = T0 + timedelta(minutes=10)
    payment.expire(expired_at)
    assert event_message(event_of(payment, PaymentExpired)) == events_pb2.PaymentExpired(
        **ABOUT, expired_at=ts(expired_at)
    )


def test_a_refund_is_published_with_the_total_so_far() -> None:
    payment = refunded_in_part()
    assert event_message(event_of(payment, PaymentRefunded)) == events_pb2.PaymentRefunded(
        **ABOUT,
        refund_id=payment.refunds[0].id,
        amount=usd_message(2_500),
        refunded_total=usd_message(2_500),
        full=False,
        reason="admin_goodwill",
        destination=pb.REFUND_DESTINATION_ORIGINAL_METHOD,
        refunded_at=ts(REFUNDED_AT),
    )


def test_a_released_payout_is_published() -> None:
    payout = a_payout(FeeSplit(usd(100), usd(3), usd(0), usd(97)))
    released_at = T0 + timedelta(days=30)
    payout.release(released_at)
    assert event_message(payout.events[0]) == events_pb2.PayoutReleased(
        payout_id=payout.id,
        doctor_id=DOCTOR,
        payment_id="payment-1",
        gross=usd_message(100),
        net=usd_message(97),
        released_at=ts(released_at),
    )


PURCHASE_DOMAIN = Purchase("booking", "checkout-1")


@pytest.mark.parametrize(
    "event",
    [
        RefundStarted("payment-1", "refund-1", "cs_1", usd(100), "slot_taken", T0),
        RefundFailed("payment-1", "refund-1", usd(100), attempts.Failure("declined"), T0),
        CaptureRejected(
            "payment-1",
            PURCHASE_DOMAIN,
            PATIENT,
            "a-1",
            "cs_1",
            usd(1),
            usd(2),
            "amount_mismatch",
            T0,
        ),
        CaptureRefunded(
            "payment-1", PURCHASE_DOMAIN, PATIENT, "refund-1", "a-1", usd(1), "amount_mismatch", T0
        ),
    ],
    ids=type,
)
def test_payments_own_events_are_never_published(event: object) -> None:
    assert event_message(event) is None  # type: ignore[arg-type]


def test_an_event_nobody_sorted_into_published_or_not_is_a_bug() -> None:
    with pytest.raises(TypeError, match="str"):
        event_message("PaymentConfirmed")  # type: ignore[arg-type]


# Proto -> domain.


def test_money_comes_in_as_domain_money() -> None:
    assert money_from(usd_message(1_250), "amount") == usd(1_250)


@pytest.mark.parametrize(
    ("money", "error", "field"),
    [
        (money_pb2.Money(), FieldRequired, "amount"),
        (usd_message(0), AmountNotPositive, "amount.amount_minor"),
        (usd_message(-5), AmountNotPositive, "amount.amount_minor"),
        (usd_message(10**8 + 1), AmountAboveLimit, "amount.amount_minor"),
        (money_pb2.Money(amount_minor=100, currency="XYZ"), UnknownCurrency, "amount.currency"),
        (money_pb2.Money(amount_minor=100, currency="usd"), UnknownCurrency, "amount.currency"),
        (money_pb2.Money(amount_minor=100), UnknownCurrency, "amount.currency"),
    ],
)
def test_bad_money_is_invalid_on_its_exact_field(
    money: money_pb2.Money, error: type[InvalidArgument], field: str
) -> None:
    with pytest.raises(error):
        money_from(money, "amount")
    assert invalid_field(lambda: money_from(money, "amount")) == field


def test_money_whose_absence_means_everything_may_be_left_out() -> None:
    assert optional_money_from(money_pb2.Money(), "amount") is None
    assert optional_money_from(usd_message(5), "amount") == usd(5)
    assert invalid_field(lambda: optional_money_from(usd_message(-5), "amount")) == (
        "amount.amount_minor"
    )


def test_a_purchase_comes_in_as_given() -> None:
    assert purchase_from(PURCHASE) == PURCHASE_DOMAIN


@pytest.mark.parametrize(
    ("purchase", "field", "error", "path"),
    [
        (pb.Purchase(), "purchase", FieldRequired, "purchase"),
        (pb.Purchase(kind="Booking!", ref="c-1"), "purchase", MalformedField, "purchase.kind"),
        (pb.Purchase(kind="booking"), "purchase", FieldRequired, "purchase.ref"),
        # Held elsewhere in a message, the domain's own path moves under it.
        (pb.Purchase(kind="booking"), "order.purchase", FieldRequired, "order.purchase.ref"),
    ],
)
def test_a_bad_purchase_is_invalid_on_its_exact_field(
    purchase: pb.Purchase, field: str, error: type[InvalidArgument], path: str
) -> None:
    with pytest.raises(error):
        purchase_from(purchase, field)
    assert invalid_field(lambda: purchase_from(purchase, field)) == path


def line(kind: int = pb.PAYEE_KIND_DOCTOR, amount: money_pb2.Money | None = None) -> pb.PayeeLine:
    return pb.PayeeLine(
        payee_kind=kind, payee_id=DOCTOR, amount=amount or usd_message(100), description="Visit"
    )


def test_payee_lines_come_in_in_order() -> None:
    platform = pb.PayeeLine(payee_kind=pb.PAYEE_KIND_PLATFORM, amount=usd_message(20))
    assert payee_lines_from([line(), platform]) == [
        PayeeLine(PayeeKind.DOCTOR, DOCTOR, usd(100), "Visit"),
        PayeeLine(PayeeKind.PLATFORM, "", usd(20)),
    ]


@pytest.mark.parametrize(
    ("second", "path"),
    [
        (line(pb.PAYEE_KIND_UNSPECIFIED), "lines[1].payee_kind"),
        (line(99), "lines[1].payee_kind"),
        (pb.PayeeLine(payee_kind=pb.PAYEE_KIND_DOCTOR, payee_id=DOCTOR), "lines[1].amount"),
        (
            line(amount=money_pb2.Money(amount_minor=100, currency="EURO")),
            "lines[1].amount.currency",
        ),
        (line(amount=usd_message(0)), "lines[1].amount.amount_minor"),
    ],
)
def test_a_bad_payee_line_is_invalid_on_its_exact_field(second: pb.PayeeLine, path: str) -> None:
    assert invalid_field(lambda: payee_lines_from([line(), second])) == path


def test_a_method_is_required_unless_unspecified_means_something() -> None:
    assert method_from(checkout_pb2.PAYMENT_METHOD_WALLET) is PaymentMethod.WALLET
    assert invalid_field(lambda: method_from(checkout_pb2.PAYMENT_METHOD_UNSPECIFIED)) == "method"
    assert method_or_none_from(0) is None
    assert invalid_field(lambda: method_or_none_from(7)) == "method"


def test_an_unspecified_refund_destination_is_the_original_method() -> None:
    assert destination_from(0) is RefundDestination.ORIGINAL_METHOD
    assert destination_from(pb.REFUND_DESTINATION_WALLET) is RefundDestination.WALLET
    assert invalid_field(lambda: destination_from(9)) == "destination"


def test_an_unspecified_status_filter_is_every_status() -> None:
    assert payment_status_from(0) is None
    assert payout_status_from(0) is None
    assert payment_status_from(pb.PAYMENT_STATUS_REFUND_PENDING) is PaymentStatus.REFUND_PENDING
    assert payout_status_from(pb.PAYOUT_STATUS_HELD) is PayoutStatus.HELD
    assert invalid_field(lambda: payment_status_from(42)) == "status"


@pytest.mark.parametrize(
    ("decode", "proto", "prefix", "domain"),
    [
        (method_from, checkout_pb2.PaymentMethod, "PAYMENT_METHOD_", PaymentMethod),
        (payment_status_from, pb.PaymentStatus, "PAYMENT_STATUS_", PaymentStatus),
        (payout_status_from, pb.PayoutStatus, "PAYOUT_STATUS_", PayoutStatus),
        (destination_from, pb.RefundDestination, "REFUND_DESTINATION_", RefundDestination),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_every_proto_value_has_the_domain_member_of_its_name(
    decode: Callable[[int], Enum | None], proto, prefix: str, domain: type[Enum]
) -> None:
    decoded = {proto.Name(value): decode(value) for value in proto.values() if value}
    assert decoded == {prefix + member.name: member for member in domain}


def test_an_enum_with_a_member_missing_on_one_side_stops_the_import() -> None:
    class Shrunk(Enum):
        GATEWAY = "gateway"

    with pytest.raises(RuntimeError, match="PAYMENT_METHOD_WALLET"):
        wire.enum_pair(Shrunk, checkout_pb2.PaymentMethod, "PAYMENT_METHOD_")


def test_an_unset_ledger_account_filter_is_every_account() -> None:
    assert account_from(pb.LedgerAccount()) is None
    doctor = pb.LedgerAccount(kind=pb.LEDGER_ACCOUNT_KIND_DOCTOR_PAYABLE, owner_id=DOCTOR)
    assert account_from(doctor) == Account.doctor_payable(DOCTOR)
    refunds = pb.LedgerAccount(kind=pb.LEDGER_ACCOUNT_KIND_REFUNDS)
    assert account_from(refunds) == Account(AccountKind.REFUNDS)


@pytest.mark.parametrize(
    ("account", "path"),
    [
        (pb.LedgerAccount(owner_id=DOCTOR), "account.kind"),
        (pb.LedgerAccount(kind=pb.LEDGER_ACCOUNT_KIND_PATIENT_WALLET), "account.owner_id"),
        (
            pb.LedgerAccount(kind=pb.LEDGER_ACCOUNT_KIND_GATEWAY_FEES, owner_id="x"),
            "account.owner_id",
        ),
    ],
)
def test_a_bad_ledger_account_filter_is_invalid_on_its_exact_field(
    account: pb.LedgerAccount, path: str
) -> None:
    assert invalid_field(lambda: account_from(account)) == path
