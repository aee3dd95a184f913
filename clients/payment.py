"""Payment's API as the purchasing contexts (booking, consultation) call it.

They ask payment to charge for a purchase at the price they set, and to try again;
what happened to the money comes back as events (PaymentConfirmed, PaymentFailed,
PaymentExpired), never as these calls' answers. Calls carry a service token and a
deadline, and UNAVAILABLE is retried (both calls are idempotent by key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.payment.v1 import payment_service_pb2 as pb
from nobat.payment.v1 import payment_service_pb2_grpc

from runtime import errors
from runtime.rpc import client_channel
from runtime.tls import TlsIdentity

if TYPE_CHECKING:
    from runtime.config import Env
    from runtime.service import ServiceProcess

_METHODS = {
    "gateway": checkout_pb2.PAYMENT_METHOD_GATEWAY,
    "wallet": checkout_pb2.PAYMENT_METHOD_WALLET,
}
SERVICE = pb.DESCRIPTOR.services_by_name["PaymentService"].full_name


@dataclass(frozen=True)
class PaymentOrder:
    # Purchase(kind, ref) at payment; the ref is also the creation's idempotency key.
    purchase_kind: str
    purchase_ref: str
    patient_id: str
    # The doctor paid for it; None when none is known yet (the platform's line).
    doctor_id: str | None
    amount_minor: int
    currency: str
    # "gateway" or "wallet".
    method: str
    return_url: str
    description: str
    # Aligned with the purchasing context's own deadline (a slot's hold, say).
    expires_at: datetime


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class OpenedAttempt:
    payment_id: str
    attempt_id: str | None = None
    # The gateway's page; None for wallet payments.
    checkout_url: str | None = None
    # Set when the attempt failed at once, such as a wallet too short to pay.
    failure: Failure | None = None


# ErrorInfo reason of payment's refusal to pay from a wallet that is too short.
WALLET_SHORT = "INSUFFICIENT_WALLET_BALANCE"
GATEWAY_REFUSES = "GATEWAY_REFUSES_AMOUNT"
# Payment's refusals of another attempt on a payment, which are the patient's to read.
NO_NEW_ATTEMPT = frozenset({"ATTEMPT_IN_PROGRESS", "PAYMENT_ALREADY_SETTLED"})


class PaymentClient:
    def __init__(
        self, address: str, token: Callable[[], str], identity: TlsIdentity | None = None
    ) -> None:
        self._address = address
        # The calling service's own token, addressed to payment (ServiceProcess.service_token).
        self._token = token
        # Mutual TLS to payment as this service's pod, when it has an identity.
        self._identity = identity
        self._channel: grpc.aio.Channel | None = None

    @property
    def _stub(self) -> payment_service_pb2_grpc.PaymentServiceAsyncStub:
        # Made on first use: a grpc.aio channel belongs to the event loop it was made on,
        # and the composition root runs before the service's loop starts.
        if self._channel is None:
            self._channel = client_channel(
                self._address,
                self._token,
                [SERVICE],
                self._identity.channel_credentials() if self._identity else None,
            )
        return payment_service_pb2_grpc.PaymentServiceStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def open(self, order: PaymentOrder) -> OpenedAttempt:
        amount = money_pb2.Money(amount_minor=order.amount_minor, currency=order.currency)
        expires_at = Timestamp()
        expires_at.FromDatetime(order.expires_at)
        request = pb.CreatePaymentRequest(
            idempotency_key=order.purchase_ref,
            purchase=pb.Purchase(kind=order.purchase_kind, ref=order.purchase_ref),
            patient_id=order.patient_id,
            amount=amount,
            lines=[
                pb.PayeeLine(
                    payee_kind=pb.PAYEE_KIND_DOCTOR if order.doctor_id else pb.PAYEE_KIND_PLATFORM,
                    payee_id=order.doctor_id or "",
                    amount=amount,
                    description=order.description,
                )
            ],
            method=_METHODS[order.method],
            return_url=order.return_url,
            description=order.description,
            expires_at=expires_at,
        )
        return await self._call(self._stub.CreatePayment, request)

    async def retry(self, payment_id: str, key: str, method: str, return_url: str) -> OpenedAttempt:
        request = pb.RetryPaymentRequest(
            idempotency_key=key,
            payment_id=payment_id,
            method=_METHODS[method],
            return_url=return_url,
        )
        return await self._call(self._stub.RetryPayment, request)

    async def _call(
        self,
        method: Callable[..., Awaitable[pb.CreatePaymentResponse | pb.RetryPaymentResponse]],
        request: pb.CreatePaymentRequest | pb.RetryPaymentRequest,
    ) -> OpenedAttempt:
        try:
            reply = await method(request, timeout=10)
        except grpc.aio.AioRpcError as error:
            return _refusal(error)
        payment = reply.payment
        latest = payment.attempts[-1] if payment.attempts else None
        return OpenedAttempt(
            payment_id=payment.id,
            attempt_id=latest.id if latest else None,
            checkout_url=payment.checkout_url or None,
        )


def _refusal(error: grpc.aio.AioRpcError) -> OpenedAttempt:
    """A wallet too short to pay is an answer (the attempt failed, the checkout may switch
    to the gateway); payment out of reach is UNAVAILABLE for the caller to retry; a payment
    out of attempts for now is the patient's to wait out, and goes back to them with the
    delay payment gave; a currency or amount the gateway cannot take, or a payment that
    takes no new attempt now (paid meanwhile, a bank debit being settled), is the patient's
    to hear; anything else is a bug between the two services and is raised as it is."""
    if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        raise errors.Unavailable("payment cannot be reached; retry with the same key") from error
    if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
        raise _exhausted(error) from error
    info = _error_info(error)
    precondition = error.code() is grpc.StatusCode.FAILED_PRECONDITION
    if precondition and info.get("reason") == WALLET_SHORT:
        metadata = info["metadata"]
        return OpenedAttempt(
            payment_id=metadata["payment_id"],
            attempt_id=metadata.get("attempt_id") or None,
            failure=Failure("insufficient_funds", error.details() or "", retryable=True),
        )
    if (
        error.code() is grpc.StatusCode.FAILED_PRECONDITION
        and info.get("reason") == GATEWAY_REFUSES
    ):
        # The patient's to read, as payment worded it: passed on, not a bug between us.
        raise errors.GatewayRefusesAmount(error.details() or "", **info["metadata"]) from error
    if precondition and info.get("reason") in NO_NEW_ATTEMPT:
        raise errors.PaymentTakesNoNewAttempt(error.details() or "", **info["metadata"]) from error
    raise error


def _error_info(error: grpc.aio.AioRpcError) -> dict:
    info = error_details_pb2.ErrorInfo()
    if _detail(error, info):
        return {"reason": info.reason, "metadata": dict(info.metadata)}
    return {}


def _exhausted(error: grpc.aio.AioRpcError) -> errors.ResourceExhausted:
    retry, quota = error_details_pb2.RetryInfo(), error_details_pb2.QuotaFailure()
    # Without a delay (gRPC's own limit on concurrent calls sends none), a short one.
    retry_after = retry.retry_delay.ToTimedelta() if _detail(error, retry) else timedelta(0)
    _detail(error, quota)
    subject = quota.violations[0].subject if quota.violations else "payment"
    limit = int(_error_info(error).get("metadata", {}).get("limit", 0))
    return errors.ResourceExhausted(
        error.details() or "payment is busy; try again later",
        subject=subject,
        limit=limit,
        retry_after=retry_after,
    )


def _detail(error: grpc.aio.AioRpcError, message) -> bool:
    """Fill `message` from the error's google.rpc detail of its type; False if none."""
    status = rpc_status.from_call(error)
    return any(detail.Unpack(message) for detail in (status.details if status else ()))


def payment_client(process: ServiceProcess, env: Env) -> PaymentClient:
    """The client a purchasing context's process calls payment with: at
    NOBAT_PAYMENT_ADDRESS, with the process's own token (and TLS identity), closed when the
    process stops."""
    client = PaymentClient(
        env.str("NOBAT_PAYMENT_ADDRESS"),
        process.service_token("payment"),
        identity=process.settings.tls.identity,
    )
    process.on_shutdown(client.close)
    return client
