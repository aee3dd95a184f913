"""TLS on every connection (issue 14, "Trust boundary"): one stack with `tls=True`, its
services holding certificates of the stack's CA, as cert-manager gives them in a cluster.

A booking goes all the way through TLS: the patient's calls to booking, booking's call to
payment (mutual TLS, each presenting its own certificate), the events over NATS and every
database connection. And each way in without TLS, or without a certificate of the CA, is
refused: each check below would pass a plaintext stack's client, so it fails if TLS were
silently off.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path

import asyncpg
import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.booking.v1 import booking_service_pb2_grpc

from runtime.wiring import OBSERVER, inbox_prefix
from stack.local import SERVICES
from tests.e2e.flows import AWAITING, CONFIRMED, running_stack
from tests.e2e.test_booking_flows import reservations_of
from tests.instants import LEAP_DAY

pytestmark = pytest.mark.e2e

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        LEAP_DAY,
        tls=True,
        NOBAT_PAYMENT_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS="1",
    ) as stack:
        yield stack


async def health(channel: grpc.aio.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)).status


async def refused(channel: grpc.aio.Channel) -> grpc.StatusCode:
    """The code of a health check that never reached the service; no answer fails."""
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await health(channel)
    return failure.value.code()


async def test_a_paid_booking_becomes_a_reservation_over_tls_everywhere(nobat):
    doctor = await nobat.new_doctor()
    [slot, *_] = await nobat.free_slots(doctor)
    patient = nobat.patient()

    checkout = await nobat.book(patient, slot.id)
    # Booking asked payment for the gateway's page: its call to payment went through.
    assert checkout.status == AWAITING and checkout.checkout_url

    await nobat.pay(checkout)
    # PaymentConfirmed reached booking over NATS; both wrote to their databases.
    confirmed = await nobat.checkout_until(patient, checkout.id, CONFIRMED)
    [reservation] = await reservations_of(patient)
    assert reservation.id == confirmed.reservation_id
    assert (reservation.slot_id, reservation.payment_id) == (slot.id, checkout.payment_id)


async def test_a_grpc_client_without_tls_is_refused_by_every_service(stack):
    for name in SERVICES:
        channel = grpc.aio.insecure_channel(stack.services[name].address)
        assert await refused(channel) == grpc.StatusCode.UNAVAILABLE, name


def without_certificate(stack) -> grpc.ChannelCredentials:
    """TLS that trusts the stack's CA and presents no certificate of its own."""
    ca = Path(stack.client_identity.ca_file).read_bytes()
    return grpc.ssl_channel_credentials(root_certificates=ca)


async def test_a_tls_client_without_a_certificate_of_the_ca_is_refused(stack):
    """Mutual TLS: trusting the server is not enough, the caller must be known too."""
    anonymous = without_certificate(stack)
    for name in SERVICES:
        channel = grpc.aio.secure_channel(stack.services[name].address, anonymous)
        assert await refused(channel) == grpc.StatusCode.UNAVAILABLE, name
        # The same call with the stack's certificate is answered: it is the certificate.
        async with stack.aio_channel(name) as channel:
            assert await health(channel) == SERVING


async def test_the_probes_port_answers_health_in_plaintext_and_nothing_else(stack):
    for name in SERVICES:
        handle = stack.services[name]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.health_port}") as channel:
            assert await health(channel) == SERVING, name
            if name == "booking":
                stub = booking_service_pb2_grpc.BookingServiceStub(channel)
                with pytest.raises(grpc.aio.AioRpcError) as failure:
                    await stub.ListDoctors(bpb.ListDoctorsRequest(), timeout=5)
                assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


def plaintext_nats_session(port: int, user: str, password: str) -> tuple[dict, bytes]:
    """A NATS client without TLS that logs in properly: the server's INFO, and what it
    says to CONNECT and PING (a PONG, were it not for TLS)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        lines = sock.makefile("rb")
        info = json.loads(lines.readline().removeprefix(b"INFO "))
        connect = {"user": user, "pass": password, "verbose": False, "pedantic": False}
        sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        try:
            answer = lines.readline()
        except OSError:
            answer = b""
    return info, answer


async def test_nats_refuses_clients_without_tls_or_without_a_certificate(stack):
    password = stack.nats.users[OBSERVER][0]
    info, answer = await asyncio.to_thread(
        plaintext_nats_session, stack.nats.port, OBSERVER, password
    )
    assert info["tls_required"] is True
    assert b"PONG" not in answer

    async def quiet(exc: Exception) -> None:
        pass

    trusting = ssl.create_default_context(cafile=stack.client_identity.ca_file)
    with pytest.raises(OSError):  # the server drops a handshake without a certificate
        await nats.connect(
            stack.nats_url_as(OBSERVER),
            tls=trusting,
            allow_reconnect=False,
            connect_timeout=2,
            error_cb=quiet,
        )
    nc = await nats.connect(
        stack.nats_url_as(OBSERVER),
        tls=stack.client_identity.client_context(),
        inbox_prefix=inbox_prefix(OBSERVER),
        allow_reconnect=False,
        connect_timeout=2,
        error_cb=quiet,
    )
    try:
        assert (await nc.jetstream().stream_info("BOOKING")).state.messages > 0
    finally:
        await nc.close()


async def test_postgresql_refuses_a_connection_without_tls(stack):
    dsn = stack.postgres.dsn()
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="TLS"):
        await asyncpg.connect(dsn, ssl=False, timeout=5)
    # verify-full, as the services connect: the server's certificate, for 127.0.0.1.
    verifying = ssl.create_default_context(cafile=stack.client_identity.ca_file)
    conn = await asyncpg.connect(dsn, ssl=verifying, timeout=5)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname LIKE 'nobat_%'")
    finally:
        await conn.close()
