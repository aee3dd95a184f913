"""The gRPC edge every service shares: auth, error statuses, idempotency, graceful shutdown."""

from __future__ import annotations

import asyncio
import time

import grpc
import jwt
import pytest
from google.protobuf import empty_pb2, struct_pb2, wrappers_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runtime import auth
from stack.identity import (
    PROVIDER_AUDIENCE,
    PROVIDER_ISSUER,
    generate_token_keys,
    user_token,
)
from tests.integration.runtime.conftest import effect_counts
from tests.integration.runtime.probe import SERVICE_NAME


@pytest.fixture
async def probe(probes):
    process = probes()
    await process.wait_serving()
    return process


@pytest.fixture
async def channel(probe):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{probe.port}") as channel:
        yield channel


@pytest.fixture
def token_for(identities):
    def token_for(role: str, subject: str = "user-1", ttl: float = 60) -> str:
        if role == auth.SERVICE:
            return identities.token("booking", role, to="probe", ttl=ttl)
        return identities.token(subject, role, to="probe", ttl=ttl)

    return token_for


async def call(channel, method: str, request, response_type, token: str | None):
    rpc = channel.unary_unary(
        f"/{SERVICE_NAME}/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_type.FromString,
    )
    metadata = [("authorization", f"Bearer {token}")] if token is not None else []
    return await rpc(request, metadata=metadata, timeout=10)


def charge_request(key: str, amount: float) -> struct_pb2.Struct:
    request = struct_pb2.Struct()
    request.update({"idempotency_key": key, "amount": amount})
    return request


def details_of(error: grpc.aio.AioRpcError) -> list:
    """The google.rpc details the server attached to its status."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return list(status_pb2.Status.FromString(value).details)
    return []


async def expect_code(awaitable, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await awaitable
    assert caught.value.code() == code, caught.value.details()
    return caught.value


async def test_calls_without_a_valid_token_are_unauthenticated(channel, identities, token_for):
    empty = empty_pb2.Empty()
    stranger_keys = generate_token_keys(key_id=identities.provider.key_id)
    for token in [
        None,
        "not-a-jwt",
        token_for(auth.ADMIN, ttl=-60),  # expired a minute ago
        user_token(stranger_keys, "user-1", auth.ADMIN),  # the provider's kid, another key
        jwt.encode(
            {"sub": "x", "role": "admin"}, "a-shared-secret-nobody-should-accept", algorithm="HS256"
        ),
    ]:
        await expect_code(
            call(channel, "Administer", empty, empty_pb2.Empty, token),
            grpc.StatusCode.UNAUTHENTICATED,
        )


def signed_as(keys, **claims: object) -> str:
    """A token of the identity provider's with `claims` changed."""
    now = int(time.time())
    base = {
        "sub": "user-1",
        "realm_access": {"roles": ["admin", "offline_access"]},
        "aud": PROVIDER_AUDIENCE,
        "iss": PROVIDER_ISSUER,
        "iat": now,
        "exp": now + 60,
    } | claims
    headers = {"kid": keys.key_id}
    return jwt.encode(base, keys.signing_key, algorithm=keys.algorithm, headers=headers)


async def test_malformed_claims_and_long_lived_tokens_are_unauthenticated(
    channel, identities, token_for
):
    def signed(**claims: object) -> str:
        return signed_as(identities.provider, **claims)

    for token in [
        signed(sub=""),
        signed(sub="   "),
        signed(realm_access={"roles": [["admin"]]}),  # a list where a string belongs
        signed(realm_access=["admin"]),  # a list where an object belongs
        signed(realm_access={"roles": ["superuser"]}),
        signed(realm_access={"roles": ["admin", "doctor"]}),  # two roles: which one?
        signed(role="admin", realm_access={}),  # a role outside the configured claim
        signed(iat=int(time.time()), exp=int(time.time()) + 2 * 3600),  # lives two hours
        token_for(auth.ADMIN, ttl=3601),
    ]:
        await expect_code(
            call(channel, "Administer", empty_pb2.Empty(), empty_pb2.Empty, token),
            grpc.StatusCode.UNAUTHENTICATED,
        )
    assert (
        await call(channel, "Administer", empty_pb2.Empty(), empty_pb2.Empty, signed())
        == empty_pb2.Empty()
    )


async def test_each_issuer_asserts_only_what_it_may(channel, identities, token_for):
    """The identity provider asserts users, never a service; a service asserts only
    itself, only to the service its token is addressed to, for a few minutes."""
    booking = identities.service_keys["booking"]

    def from_booking(**claims: object) -> str:
        now = int(time.time())
        base = {"sub": "booking", "role": "service", "iss": "nobat-booking"}
        base |= {"aud": "nobat-probe", "iat": now, "exp": now + 60} | claims
        headers = {"kid": booking.key_id}
        return jwt.encode(base, booking.signing_key, algorithm=booking.algorithm, headers=headers)

    # Each forgery, and the reason it must be refused for.
    refused = [
        (
            signed_as(identities.provider, sub="booking", realm_access={"roles": ["service"]}),
            "may not assert the role service",
        ),
        (signed_as(identities.provider, iss="https://id.example.net/"), "unknown issuer"),
        (from_booking(role="admin"), "may not assert the role admin"),
        (from_booking(sub="consultation"), "may only name booking"),
        (from_booking(iss="nobat-consultation"), "unknown key"),
        (from_booking(aud="nobat-payment"), "Audience"),
        # A service's key is believed for its own tokens only, not for a user's.
        (
            jwt.encode(
                {
                    "sub": "user-1",
                    "realm_access": {"roles": ["admin"]},
                    "aud": PROVIDER_AUDIENCE,
                    "iss": PROVIDER_ISSUER,
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 60,
                },
                booking.signing_key,
                algorithm=booking.algorithm,
                headers={"kid": booking.key_id},
            ),
            "unknown key",
        ),
        (signed_as(generate_token_keys(key_id="provider-2030")), "unknown key"),
        (from_booking(exp=int(time.time()) + 3600), "longer than"),
    ]
    for token, reason in refused:
        error = await expect_code(
            call(channel, "Sleep", wrappers_pb2.DoubleValue(value=0), empty_pb2.Empty, token),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        assert reason in error.details()
    # The same calls, as each issuer may make them.
    for token in (from_booking(), token_for(auth.PATIENT)):
        await call(channel, "Sleep", wrappers_pb2.DoubleValue(value=0), empty_pb2.Empty, token)


async def test_an_rpc_that_streams_requests_in_is_refused_whoever_calls(channel, token_for):
    upload = channel.stream_unary(
        f"/{SERVICE_NAME}/Upload",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=empty_pb2.Empty.FromString,
    )
    for metadata in ([], [("authorization", f"Bearer {token_for(auth.ADMIN)}")]):
        await expect_code(
            upload(iter([empty_pb2.Empty()]), metadata=metadata, timeout=10),
            grpc.StatusCode.PERMISSION_DENIED,
        )


async def test_a_role_not_allowed_for_a_method_is_permission_denied(channel, token_for):
    for role in (auth.PATIENT, auth.DOCTOR, auth.SERVICE):
        await expect_code(
            call(
                channel,
                "Administer",
                empty_pb2.Empty(),
                empty_pb2.Empty,
                token_for(role),
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    assert (
        await call(
            channel,
            "Administer",
            empty_pb2.Empty(),
            empty_pb2.Empty,
            token_for(auth.ADMIN),
        )
        == empty_pb2.Empty()
    )


async def test_health_and_reflection_need_no_token(channel):
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_bad_input_is_invalid_argument_naming_the_field_and_changes_nothing(
    channel, token_for, engine
):
    error = await expect_code(
        call(
            channel,
            "Charge",
            charge_request("k1", -5),
            struct_pb2.Struct,
            token_for(auth.PATIENT),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in details_of(error))
    assert [v.field for v in bad_request.field_violations] == ["amount"]
    assert await effect_counts(engine) == {}


async def test_an_unexpected_error_is_internal_with_a_correlation_id_and_no_traceback(
    channel, token_for, probe
):
    error = await expect_code(
        call(
            channel,
            "Crash",
            empty_pb2.Empty(),
            empty_pb2.Empty,
            token_for(auth.PATIENT),
        ),
        grpc.StatusCode.INTERNAL,
    )
    assert "correlation id" in error.details()
    assert "Traceback" not in error.details() and "deliberate" not in error.details()
    correlation = error.details().rsplit(" ", 1)[-1]
    assert len(correlation) == 32, error.details()
    await asyncio.sleep(0.2)
    [logged] = [line for line in probe.log().splitlines() if "deliberate bug" in line]
    assert correlation in logged


async def test_an_internal_answer_always_carries_a_correlation_id_of_its_own_making(
    channel, token_for, probe
):
    """A caller who sends none, a blank one or one no log line should carry gets one the
    service made: in the answer's message, as its RequestInfo, and in the log line."""
    crash = channel.unary_unary(
        f"/{SERVICE_NAME}/Crash",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=empty_pb2.Empty.FromString,
    )
    made = []
    for sent in ([], [("x-correlation-id", " ")], [("x-correlation-id", "x" * 300)]):
        metadata = [("authorization", f"Bearer {token_for(auth.PATIENT)}"), *sent]
        error = await expect_code(
            crash(empty_pb2.Empty(), metadata=metadata, timeout=10), grpc.StatusCode.INTERNAL
        )
        correlation = error.details().rsplit(" ", 1)[-1]
        assert len(correlation) == 32 and correlation.isalnum(), error.details()
        info = error_details_pb2.RequestInfo()
        assert any(detail.Unpack(info) for detail in details_of(error))
        assert info.request_id == correlation
        made.append(correlation)
    assert len(set(made)) == 3
    await asyncio.sleep(0.2)
    logged = [line for line in probe.log().splitlines() if "deliberate bug" in line]
    assert [any(c in line for line in logged) for c in made] == [True] * 3
    assert "x" * 300 not in probe.log()


async def test_text_with_a_control_character_is_refused_before_the_handler_runs(
    channel, token_for, engine
):
    for bad in ("k\x00", "k\x1b[2J", "k\u202e"):
        error = await expect_code(
            call(
                channel,
                "Charge",
                charge_request(bad, 5),
                struct_pb2.Struct,
                token_for(auth.PATIENT),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        bad_request = error_details_pb2.BadRequest()
        assert any(detail.Unpack(bad_request) for detail in details_of(error))
        assert [v.field for v in bad_request.field_violations] == [
            'fields["idempotency_key"].string_value'
        ]
    assert await effect_counts(engine) == {}


async def test_bytes_that_are_not_the_request_message_are_invalid_argument_and_change_nothing(
    channel, token_for, engine, probe
):
    """gRPC parses a request before any of our code runs; bytes it cannot parse are
    refused as bad input, not answered UNKNOWN with a traceback in the log."""
    charge = channel.unary_unary(
        f"/{SERVICE_NAME}/Charge",
        request_serializer=lambda raw: raw,
        response_deserializer=struct_pb2.Struct.FromString,
    )
    # A Struct whose one key holds the bytes FF FE, which no UTF-8 text contains.
    not_utf8 = b"\x0a\x08" + b"\x0a\x02\xff\xfe" + b"\x12\x02\x08\x00"
    patient = [("authorization", f"Bearer {token_for(auth.PATIENT)}")]
    error = await expect_code(
        charge(not_utf8, metadata=patient, timeout=10), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert error.details() == (
        "request is not a valid google.protobuf.Struct: String field had bad UTF-8"
    )
    info = error_details_pb2.ErrorInfo()
    assert any(detail.Unpack(info) for detail in details_of(error))
    assert info.reason == "UNREADABLE_REQUEST"
    await expect_code(charge(not_utf8, timeout=10), grpc.StatusCode.UNAUTHENTICATED)
    assert await effect_counts(engine) == {}
    assert "Traceback" not in probe.log()


async def test_the_same_subject_in_another_role_has_keys_of_its_own(channel, token_for, engine):
    """One person may call as a patient and as a doctor: the same key in each role is two
    requests, not one answered with the other's stored answer."""
    as_patient = await call(
        channel, "Charge", charge_request("k", 5), struct_pb2.Struct, token_for(auth.PATIENT, "u-7")
    )
    as_doctor = await call(
        channel, "Charge", charge_request("k", 5), struct_pb2.Struct, token_for(auth.DOCTOR, "u-7")
    )
    assert as_patient["charge_id"] != as_doctor["charge_id"]
    assert await effect_counts(engine) == {"charge 5": 2}


async def test_the_same_key_and_request_gets_the_first_answer_and_one_effect(
    channel, token_for, engine
):
    token = token_for(auth.PATIENT)
    first = await call(channel, "Charge", charge_request("same", 100), struct_pb2.Struct, token)
    again = await call(channel, "Charge", charge_request("same", 100), struct_pb2.Struct, token)
    assert again == first
    assert await effect_counts(engine) == {"charge 100": 1}


async def test_the_same_key_with_a_different_request_is_invalid_argument(
    channel, token_for, engine
):
    token = token_for(auth.PATIENT)
    await call(channel, "Charge", charge_request("reused", 100), struct_pb2.Struct, token)
    error = await expect_code(
        call(channel, "Charge", charge_request("reused", 999), struct_pb2.Struct, token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "idempotency_key" in error.details()
    assert await effect_counts(engine) == {"charge 100": 1}


async def test_concurrent_identical_requests_have_one_effect_and_one_answer(
    channel, token_for, engine
):
    token = token_for(auth.PATIENT)
    answers = await asyncio.gather(
        *(
            call(channel, "Charge", charge_request("racing", 7), struct_pb2.Struct, token)
            for _ in range(10)
        )
    )
    assert len({answer["charge_id"] for answer in answers}) == 1
    assert await effect_counts(engine) == {"charge 7": 1}


async def test_keys_are_per_caller(channel, token_for, engine):
    one = await call(
        channel,
        "Charge",
        charge_request("k", 5),
        struct_pb2.Struct,
        token_for(auth.PATIENT, "p1"),
    )
    two = await call(
        channel,
        "Charge",
        charge_request("k", 5),
        struct_pb2.Struct,
        token_for(auth.PATIENT, "p2"),
    )
    assert one["charge_id"] != two["charge_id"]
    assert await effect_counts(engine) == {"charge 5": 2}


async def test_shutdown_reports_not_serving_and_lets_in_flight_calls_finish(
    probe, channel, token_for
):
    health = health_pb2_grpc.HealthStub(channel)
    watch = health.Watch(health_pb2.HealthCheckRequest())
    seen = []

    async def follow() -> None:
        try:
            async for update in watch:
                seen.append(update.status)
        except grpc.aio.AioRpcError:
            pass

    follower = asyncio.create_task(follow())
    slow = asyncio.create_task(
        call(
            channel,
            "Sleep",
            wrappers_pb2.DoubleValue(value=1.5),
            empty_pb2.Empty,
            token_for(auth.PATIENT),
        )
    )
    await asyncio.sleep(0.3)
    probe.terminate()
    assert await slow == empty_pb2.Empty()
    assert await probe.wait_exit() == 0
    await asyncio.wait_for(follower, 5)
    assert seen[:2] == [
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    ]
