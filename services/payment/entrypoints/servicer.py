"""PaymentService over gRPC: request → command → handler → response, nothing more.

Who may call what is the access map at the bottom; which payments a caller may see is
decided here from the verified caller (a patient sees only their own, a doctor only
their own payouts) and enforced by the handlers as NOT_FOUND.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from nobat.payment.v1 import payment_service_pb2 as pb
from nobat.payment.v1 import payment_service_pb2_grpc

from purchasing.kinds import purchasers
from runtime import auth, errors
from runtime.currency import currency_of
from runtime.handling import Handlers
from runtime.idempotency import answer_call
from runtime.rpc import ErrorDetails
from runtime.wire import (
    PageRequest,
    id_from,
    money_from,
    optional_money_from,
    timestamp_or_none,
)
from services.payment.adapters.messages import (
    account_from,
    destination_from,
    dispute_message,
    dispute_status_from,
    ledger_entry_message,
    method_from,
    method_or_none_from,
    payee_lines_from,
    payment_event_message,
    payment_message,
    payment_status_from,
    payout_message,
    payout_status_from,
    purchase_from,
    refund_message,
    wallet_message,
    wallet_shortfall_message,
    wallet_transaction_message,
)
from services.payment.domain.audit import Actor
from services.payment.domain.errors import InsufficientWalletBalance
from services.payment.domain.refund import check_reason
from services.payment.handlers import COMMANDS, payments, refunds, views
from services.payment.handlers.context import Context

R = TypeVar("R", bound=Message)

PATIENT, DOCTOR, ADMIN, SERVICE = auth.PATIENT, auth.DOCTOR, auth.ADMIN, auth.SERVICE


def _viewer() -> payments.Viewer | None:
    """Whose payments the caller may see: a patient their own, a service (named by its
    token's subject) its own kind of purchase's, an admin any."""
    caller = auth.current_caller()
    if caller.is_(PATIENT):
        return payments.Viewer(patient_id=caller.subject)
    if caller.is_(SERVICE):
        return payments.Viewer(purchase_kind=caller.subject)
    return None


def _actor(context) -> Actor:
    """The verified caller, with where it called from, for the payment's trail."""
    caller = auth.current_caller()
    return Actor(caller.subject, caller.role, *auth.call_origin(context))


def _purchasing_service() -> str | None:
    """The service calling, which may act only on its own kind of purchase; None for others."""
    caller = auth.current_caller()
    return caller.subject if caller.is_(SERVICE) else None


def _subject(requested: str, field: str = "patient_id") -> str:
    """Whose wallet, list or payouts: the caller's own, or anyone's for admins."""
    caller = auth.current_caller()
    if caller.is_(ADMIN):
        if not requested:
            raise errors.InvalidArgument(field, "is required for admin callers")
        return requested
    if requested and requested != caller.subject:
        raise errors.PermissionDenied(f"only admins may name another {field}")
    return caller.subject


class PaymentServicer(payment_service_pb2_grpc.PaymentServiceServicer):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.handle = Handlers(ctx, COMMANDS)

    async def CreatePayment(
        self, request: pb.CreatePaymentRequest, context
    ) -> pb.CreatePaymentResponse:
        purchase = purchase_from(request.purchase)
        service = _purchasing_service()
        if purchase.kind != service:
            raise errors.PermissionDenied(f"{service} may create payments only for its purchases")
        command = payments.CreatePayment(
            purchase=purchase,
            patient_id=request.patient_id,
            amount=money_from(request.amount, "amount"),
            lines=tuple(payee_lines_from(request.lines)),
            method=method_from(request.method),
            return_url=self.ctx.settings.return_urls.checked(request.return_url),
            description=request.description,
            expires_at=timestamp_or_none(request.expires_at, "expires_at"),
            actor=_actor(context),
        )

        async def answer(uow) -> pb.CreatePaymentResponse:
            payment = await self.handle(command, uow)
            return pb.CreatePaymentResponse(payment=payment_message(payment))

        return await answer_call(
            self.ctx.unit_of_work(), "CreatePayment", request, pb.CreatePaymentResponse, answer
        )

    async def GetPayment(self, request: pb.GetPaymentRequest, context) -> pb.GetPaymentResponse:
        payment = await views.payment(self.ctx.unit_of_work(), request.payment_id, _viewer())
        return pb.GetPaymentResponse(payment=payment_message(payment))

    async def ListPayments(
        self, request: pb.ListPaymentsRequest, context
    ) -> pb.ListPaymentsResponse:
        caller = auth.current_caller()
        if caller.is_(PATIENT):
            _subject(request.patient_id)
        service = _purchasing_service()
        if service is not None and request.purchase_kind not in ("", service):
            raise errors.PermissionDenied(f"{caller.subject} may list only its own purchases")
        patient_id, kind = (_viewer() or payments.Viewer()).listing(
            request.patient_id, request.purchase_kind
        )
        query = views.PaymentsQuery(patient_id, payment_status_from(request.status), kind)
        page, token = await views.payments(
            self.ctx.unit_of_work(), query, PageRequest.of(request, datetime, str)
        )
        return pb.ListPaymentsResponse(
            payments=[payment_message(p) for p in page], next_page_token=token
        )

    async def RetryPayment(
        self, request: pb.RetryPaymentRequest, context
    ) -> pb.RetryPaymentResponse:
        command = payments.RetryPayment(
            payment_id=request.payment_id,
            method=method_or_none_from(request.method),
            return_url=self.ctx.settings.return_urls.checked(request.return_url),
            viewer=_viewer(),
            actor=_actor(context),
        )

        async def answer(uow) -> pb.RetryPaymentResponse:
            payment = await self.handle(command, uow)
            return pb.RetryPaymentResponse(payment=payment_message(payment))

        return await answer_call(
            self.ctx.unit_of_work(), "RetryPayment", request, pb.RetryPaymentResponse, answer
        )

    async def ConfirmPayment(
        self, request: pb.ConfirmPaymentRequest, context
    ) -> pb.ConfirmPaymentResponse:
        command = payments.ConfirmPayment(
            request.payment_id, _viewer(), request.gateway_ref, _actor(context)
        )

        async def answer(uow) -> pb.ConfirmPaymentResponse:
            payment = await self.handle(command, uow)
            return pb.ConfirmPaymentResponse(payment=payment_message(payment))

        return await answer_call(
            self.ctx.unit_of_work(), "ConfirmPayment", request, pb.ConfirmPaymentResponse, answer
        )

    async def RefundPayment(
        self, request: pb.RefundPaymentRequest, context
    ) -> pb.RefundPaymentResponse:
        command = refunds.RefundPayment(
            payment_id=request.payment_id,
            key=f"rpc:{request.idempotency_key}",
            amount=optional_money_from(request.amount, "amount"),
            reason=check_reason(request.reason),
            destination=destination_from(request.destination),
            purchaser=_purchasing_service(),
            actor=_actor(context),
        )

        async def answer(uow) -> pb.RefundPaymentResponse:
            payment, refund = await self.handle(command, uow)
            return pb.RefundPaymentResponse(
                payment=payment_message(payment), refund=refund_message(refund, payment.id)
            )

        return await answer_call(
            self.ctx.unit_of_work(), "RefundPayment", request, pb.RefundPaymentResponse, answer
        )

    async def GetWallet(self, request: pb.GetWalletRequest, context) -> pb.GetWalletResponse:
        wallet = await views.wallet(self.ctx.unit_of_work(), _subject(request.patient_id))
        return pb.GetWalletResponse(wallet=wallet_message(wallet))

    async def ListWalletTransactions(
        self, request: pb.ListWalletTransactionsRequest, context
    ) -> pb.ListWalletTransactionsResponse:
        patient_id = _subject(request.patient_id)
        currency = request.currency and currency_of(request.currency, "currency").code
        rows, token = await views.wallet_transactions(
            self.ctx.unit_of_work(), patient_id, currency or None, PageRequest.of(request, int)
        )
        return pb.ListWalletTransactionsResponse(
            transactions=[wallet_transaction_message(t) for _, t in rows], next_page_token=token
        )

    async def TopUpWallet(self, request: pb.TopUpWalletRequest, context) -> pb.TopUpWalletResponse:
        command = payments.TopUpWallet(
            patient_id=auth.current_caller().subject,
            key=request.idempotency_key,
            amount=money_from(request.amount, "amount"),
            return_url=self.ctx.settings.return_urls.checked(request.return_url),
            actor=_actor(context),
        )

        async def answer(uow) -> pb.TopUpWalletResponse:
            payment = await self.handle(command, uow)
            return pb.TopUpWalletResponse(payment=payment_message(payment))

        return await answer_call(
            self.ctx.unit_of_work(), "TopUpWallet", request, pb.TopUpWalletResponse, answer
        )

    async def ListPayouts(self, request: pb.ListPayoutsRequest, context) -> pb.ListPayoutsResponse:
        doctor_id = _subject(request.doctor_id, "doctor_id")
        status = payout_status_from(request.status)
        rows, token = await views.payouts(
            self.ctx.unit_of_work(), doctor_id, status, PageRequest.of(request, int)
        )
        return pb.ListPayoutsResponse(
            payouts=[payout_message(p) for _, p in rows], next_page_token=token
        )

    async def ListLedgerEntries(
        self, request: pb.ListLedgerEntriesRequest, context
    ) -> pb.ListLedgerEntriesResponse:
        query = views.LedgerQuery(
            payment_id=request.payment_id or None,
            transaction_id=request.transaction_id or None,
            account=account_from(request.account),
        )
        page, token = await views.ledger_entries(
            self.ctx.unit_of_work(), query, PageRequest.of(request, int)
        )
        return pb.ListLedgerEntriesResponse(
            entries=[ledger_entry_message(posted) for posted in page], next_page_token=token
        )

    async def ListPaymentEvents(
        self, request: pb.ListPaymentEventsRequest, context
    ) -> pb.ListPaymentEventsResponse:
        payment_id = id_from(request.payment_id, "payment_id")
        rows, token = await views.payment_events(
            self.ctx.unit_of_work(), payment_id, _viewer(), PageRequest.of(request, int)
        )
        return pb.ListPaymentEventsResponse(
            events=[payment_event_message(e) for e in rows], next_page_token=token
        )

    async def ListDisputes(
        self, request: pb.ListDisputesRequest, context
    ) -> pb.ListDisputesResponse:
        rows, token = await views.disputes(
            self.ctx.unit_of_work(),
            dispute_status_from(request.status),
            request.payment_id or None,
            PageRequest.of(request, int),
        )
        return pb.ListDisputesResponse(
            disputes=[dispute_message(d) for _, d in rows], next_page_token=token
        )


# The services that buy through payment, each for its own kind of purchase only: they
# open payments and retry them for their patients, and read their own kind's. Refunds
# reach payment as their RefundRequested events, never as calls.
PURCHASERS = frozenset(auth.as_service(kind) for _, kind in purchasers())
PAYERS = frozenset({PATIENT, ADMIN})

ACCESS = {
    "CreatePayment": PURCHASERS,
    "GetPayment": PAYERS | PURCHASERS,
    "ListPayments": PAYERS | PURCHASERS,
    "RetryPayment": PURCHASERS | {PATIENT},
    "ConfirmPayment": frozenset({PATIENT}),
    "RefundPayment": frozenset({ADMIN}),
    "GetWallet": PAYERS,
    "ListWalletTransactions": PAYERS,
    "TopUpWallet": frozenset({PATIENT}),
    "ListPayouts": frozenset({DOCTOR, ADMIN}),
    "ListLedgerEntries": frozenset({ADMIN}),
    "ListPaymentEvents": PAYERS,
    "ListDisputes": frozenset({ADMIN}),
}

# The typed details a client reads off these errors.
DESCRIBED: ErrorDetails = {InsufficientWalletBalance: wallet_shortfall_message}
