"""Who may call what: every RPC of the four public services against every role, as one
table, over the running services.

The table below is the specification, written by hand; the services' ACCESS maps must
agree with it. A caller without a token is UNAUTHENTICATED everywhere; a role the table
does not allow is PERMISSION_DENIED before any handler runs; an allowed role gets past
the door (with the empty request each call carries it is then refused as bad input, or
finds nothing, and nothing changes). A new RPC without a row fails the test, and so
does a row for an RPC that is gone.

The callers are every kind of token nobat believes: no token, a patient, another
patient, a doctor, another doctor and an admin from the identity provider, and each of
the four services with its own key. At the door another patient is a patient; who owns
what (another patient's checkout is NOT_FOUND) is checked per resource by the flows' tests.
"""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.message_factory import GetMessageClass
from nobat.booking.v1 import booking_service_pb2
from nobat.consultation.v1 import consultation_service_pb2
from nobat.notification.v1 import notification_service_pb2
from nobat.payment.v1 import payment_service_pb2

from stack.identity import generate_token_keys, user_token, write_jwks
from tests.e2e.flows import running_stack
from tests.instants import THURSDAY_NIGHT
from tests.processes import eventually

pytestmark = pytest.mark.e2e

P, D, A = "patient", "doctor", "admin"
# A service is let in by name, never by its role alone.
BOOKING, CONSULTATION = "booking service", "consultation service"
PURCHASERS = {BOOKING, CONSULTATION}
# Each caller: who the token names, with what role, and what the table calls its grant.
CALLERS = {
    "patient": ("patient-matrix", P, P),
    "other patient": ("patient-other", P, P),
    "doctor": ("doctor-matrix", D, D),
    "other doctor": ("doctor-other", D, D),
    "admin": ("admin-matrix", A, A),
    BOOKING: ("booking", "service", BOOKING),
    CONSULTATION: ("consultation", "service", CONSULTATION),
    "payment service": ("payment", "service", "payment service"),
    "notification service": ("notification", "service", "notification service"),
}

ALLOWED: dict[str, dict[str, set[str]]] = {
    "payment": {
        "CreatePayment": PURCHASERS,
        "GetPayment": {P, A} | PURCHASERS,
        "ListPayments": {P, A} | PURCHASERS,
        "RetryPayment": {P} | PURCHASERS,
        "ConfirmPayment": {P},
        "RefundPayment": {A},
        "GetWallet": {P, A},
        "ListWalletTransactions": {P, A},
        "TopUpWallet": {P},
        "ListPayouts": {D, A},
        "ListLedgerEntries": {A},
        "ListPaymentEvents": {P, A},
        "ListDisputes": {A},
    },
    "booking": {
        "CreateDoctor": {A},
        "UpdateDoctor": {A},
        "SetWeeklyAvailability": {A},
        "GetWeeklyAvailability": {D, A},
        "GetDoctor": {P, D, A},
        "ListDoctors": {P, D, A},
        "ListSlots": {P, D, A},
        "StartCheckout": {P},
        "GetCheckout": {P, A},
        "RetryCheckout": {P},
        "ListCheckouts": {P},
        "ListReservations": {P, D, A},
        "GetReservation": {P, D, A},
        "CancelReservation": {P, D, A},
        "RescheduleReservation": {P},
    },
    "consultation": {
        "StartIntake": {P},
        "StartCheckout": {P},
        "GetCheckout": {P, A},
        "RetryCheckout": {P},
        "ListCheckouts": {P},
        "ListClinicalSessions": {P},
        "CancelConsultation": {P},
        "GetClinicalSession": {P, A},
        "SubmitSymptoms": {P},
        "GetConsultation": {P, D, A},
        "ListConsultations": {P, D},
        "AcceptConsultation": {D},
        "DeclineConsultation": {D},
        "CompleteConsultation": {D},
        "PostMessage": {P, D},
        "StreamMessages": {P, D},
        "SetDoctorShifts": {A},
        "ListDoctorShifts": {D, A},
        "SetConsultationPrices": {A},
        "ListAuditEntries": {A},
    },
    "notification": {
        "RegisterContact": {P, D, A},
        "GetContact": {P, D, A},
        "ListNotifications": {P, D, A},
        "MarkRead": {P, D, A},
        "StreamNotifications": {P, D, A},
    },
}
DESCRIPTORS = {
    "payment": payment_service_pb2.DESCRIPTOR.services_by_name["PaymentService"],
    "booking": booking_service_pb2.DESCRIPTOR.services_by_name["BookingService"],
    "consultation": consultation_service_pb2.DESCRIPTOR.services_by_name["ConsultationService"],
    "notification": notification_service_pb2.DESCRIPTOR.services_by_name["NotificationService"],
}
# Who gets past the door and is then refused for what the empty request lacks.
PAST_THE_DOOR = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


@pytest.fixture(scope="module")
def stack():
    with running_stack(THURSDAY_NIGHT) as stack:
        yield stack


def test_the_table_has_a_row_for_every_rpc_and_no_other():
    assert {
        service: {method.name for method in descriptor.methods}
        for service, descriptor in DESCRIPTORS.items()
    } == {service: set(rows) for service, rows in ALLOWED.items()}


async def code_of(channel, service: str, method_name: str, token: str | None) -> grpc.StatusCode:
    method = DESCRIPTORS[service].methods_by_name[method_name]
    request_type = GetMessageClass(method.input_type)
    response_type = GetMessageClass(method.output_type)
    path = f"/{DESCRIPTORS[service].full_name}/{method_name}"
    metadata = [("authorization", f"Bearer {token}")] if token else []
    make = channel.unary_stream if method.server_streaming else channel.unary_unary
    rpc = make(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_type.FromString,
    )
    try:
        # A stream an allowed caller may open waits for news: two seconds tell enough.
        call = rpc(request_type(), metadata=metadata, timeout=2 if method.server_streaming else 5)
        if method.server_streaming:
            async for _ in call:
                break
            call.cancel()
        else:
            await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("service", sorted(ALLOWED))
async def test_every_rpc_lets_in_exactly_the_roles_the_table_allows(stack, service):
    found, wanted = {}, {}
    async with grpc.aio.insecure_channel(stack.services[service].address) as channel:
        for method, allowed in ALLOWED[service].items():
            found[method, "anonymous"] = await code_of(channel, service, method, None)
            wanted[method, "anonymous"] = grpc.StatusCode.UNAUTHENTICATED
            for caller, (subject, role, grant) in CALLERS.items():
                token = stack.token(subject, role, to=service, ttl=60)
                code = await code_of(channel, service, method, token)
                found[method, caller] = "past the door" if code not in PAST_THE_DOOR else code
                wanted[method, caller] = (
                    "past the door" if grant in allowed else grpc.StatusCode.PERMISSION_DENIED
                )
    assert found == wanted


async def test_a_key_put_in_the_jwks_file_is_trusted_and_a_retired_one_refused_at_once(stack):
    """The identity provider rotates its keys: verifiers follow the JWKS file by key id,
    with no restart."""
    current = stack.identities.provider
    rotated = generate_token_keys(key_id="idp-2027-03")
    token = user_token(rotated, "patient-rotation", "patient", ttl=60)
    forged = user_token(generate_token_keys(key_id="idp-2027-03"), "p", "patient")
    pid = stack.services["booking"].process.pid
    async with grpc.aio.insecure_channel(stack.services["booking"].address) as channel:

        async def code(with_token: str) -> grpc.StatusCode:
            return await code_of(channel, "booking", "ListDoctors", with_token)

        async def trusted() -> bool:
            return await code(token) not in PAST_THE_DOOR

        async def refused() -> bool:
            return await code(token) == grpc.StatusCode.UNAUTHENTICATED

        assert await refused()
        write_jwks(stack.identities.provider_jwks, [current, rotated])
        await eventually(trusted, 10, "the new key trusted")
        # The key id alone opens nothing: the signature must be that key's.
        assert await code(forged) == grpc.StatusCode.UNAUTHENTICATED
        write_jwks(stack.identities.provider_jwks, [current])
        await eventually(refused, 10, "the retired key refused")
    assert stack.services["booking"].process.pid == pid
