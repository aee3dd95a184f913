"""The service interceptor (runtime.rpc) around one RPC, with a fake caller and context.

Bytes that are not the RPC's request message (text that is not UTF-8, a field cut short)
are refused as INVALID_ARGUMENT after the caller is checked, and the servicer never runs;
gRPC alone would answer UNKNOWN. A stream its caller cancels ends without an error."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import grpc
import pytest
from nobat.booking.v1 import booking_service_pb2 as bpb

from runtime import auth, errors
from runtime.rpc import ServiceInterceptor

METHOD = "/nobat.booking.v1.BookingService/GetDoctor"
# doctor_id (field 1) holding the two bytes FF FE, which no UTF-8 text contains.
NOT_UTF8 = b"\x0a\x02\xff\xfe"
# doctor_id announcing five bytes and holding two.
CUT_SHORT = b"\x0a\x05ab"


class Verifier:
    async def verify(self, metadata: Mapping[str, str]) -> auth.Caller:
        if "authorization" not in metadata:
            raise errors.Unauthenticated("missing bearer token")
        return auth.Caller(subject="patient-1", role=auth.PATIENT)


class Aborted(Exception):
    pass


class Context:
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata
        self.status: tuple[grpc.StatusCode, str] | None = None

    def invocation_metadata(self):
        return self._metadata

    async def abort(self, code, details, trailing_metadata=()):
        self.status = (code, details)
        raise Aborted


class Details:
    def __init__(self, method: str = METHOD) -> None:
        self.method = method


async def answer(raw: bytes, metadata=(("authorization", "Bearer t"),)):
    """What GetDoctor answers to `raw`, and the requests its servicer saw."""
    served = []

    async def get_doctor(request, context):
        served.append(request)
        return bpb.GetDoctorResponse()

    async def continuation(details):
        return grpc.unary_unary_rpc_method_handler(
            get_doctor,
            request_deserializer=bpb.GetDoctorRequest.FromString,
            response_serializer=bpb.GetDoctorResponse.SerializeToString,
        )

    interceptor = ServiceInterceptor("booking", Verifier(), {METHOD: frozenset({auth.PATIENT})})
    handler = await interceptor.intercept_service(continuation, Details())
    # gRPC calls the parser on its own, outside any servicer code: it must not raise.
    request = handler.request_deserializer(raw)
    context = Context(metadata)
    with contextlib.suppress(Aborted):
        await handler.unary_unary(request, context)
    return context.status, served


@pytest.mark.parametrize(
    ("raw", "problem"),
    [(NOT_UTF8, "String field had bad UTF-8"), (CUT_SHORT, "Wire format was corrupt")],
    ids=["not-utf8", "cut-short"],
)
async def test_bytes_that_are_no_request_are_invalid_argument_naming_the_message(raw, problem):
    status, served = await answer(raw)
    assert status == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"request is not a valid nobat.booking.v1.GetDoctorRequest: {problem}",
    )
    assert served == []


async def test_a_stranger_sending_unreadable_bytes_learns_only_that_they_are_unknown():
    status, served = await answer(NOT_UTF8, metadata=())
    assert status == (grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
    assert served == []


async def test_a_readable_request_still_reaches_the_servicer():
    status, served = await answer(bpb.GetDoctorRequest(doctor_id="doctor-1").SerializeToString())
    assert status is None
    assert served == [bpb.GetDoctorRequest(doctor_id="doctor-1")]


async def test_a_stream_cancelled_after_a_message_closes_cleanly_in_another_task():
    """asyncio closes an abandoned stream's generator from a task of its own, whose
    context never held the caller and correlation id the stream's scope set."""
    method = "/nobat.notification.v1.NotificationService/StreamNotifications"

    async def follow(request, context):
        while True:
            yield bpb.GetDoctorResponse()
            await asyncio.sleep(0)

    async def continuation(details):
        return grpc.unary_stream_rpc_method_handler(
            follow,
            request_deserializer=bpb.GetDoctorRequest.FromString,
            response_serializer=bpb.GetDoctorResponse.SerializeToString,
        )

    interceptor = ServiceInterceptor(
        "notification", Verifier(), {method: frozenset({auth.PATIENT})}
    )
    handler = await interceptor.intercept_service(continuation, Details(method))
    stream = handler.unary_stream(bpb.GetDoctorRequest(), Context((("authorization", "Bearer t"),)))

    async def first() -> None:
        await anext(stream)
        assert auth.current_caller().subject == "patient-1"

    await asyncio.create_task(first())
    # Raised "was created in a different Context", logged as a task's unretrieved error.
    await asyncio.create_task(stream.aclose())
