"""Live streams on the runtime (runtime.streams, runtime.listener), on the probe's Follow
stream: news comes through NOTIFY on the process's one listener, which reconnects; a user
holds only so many streams; a stream ends with its token, and at its maximum age.

The safety poll is set far beyond any test's length, so a stream that hears of a note
heard of it through NOTIFY (or the re-read after a reconnect), never through polling."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import wrappers_pb2
from google.rpc import error_details_pb2
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime import auth
from runtime.listener import APPLICATION_NAME
from tests.integration.runtime.probe import SERVICE_NAME, notes
from tests.integration.runtime.test_rpc import details_of, expect_code

NEVER_POLL = {"NOBAT_STREAM_SAFETY_POLL_SECONDS": "3600"}
# Long enough for a loaded machine; a stream that works answers in milliseconds.
PATIENCE = 15.0


@pytest.fixture
def token_for(identities):
    def token_for(subject: str = "patient-1", ttl: float = 300) -> str:
        return identities.token(subject, auth.PATIENT, ttl=ttl)

    return token_for


async def started(probes, **settings: str):
    process = probes(**{**NEVER_POLL, **settings})
    await process.wait_serving()
    return process


def follow(channel: grpc.aio.Channel, topic: str, token: str):
    rpc = channel.unary_stream(
        f"/{SERVICE_NAME}/Follow",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=wrappers_pb2.StringValue.FromString,
    )
    metadata = [("authorization", f"Bearer {token}")]
    return rpc(wrappers_pb2.StringValue(value=topic), metadata=metadata)


async def note(engine: AsyncEngine, topic: str, said: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(notes).values(topic=topic, text=said))


async def next_note(stream) -> str:
    reply = await asyncio.wait_for(stream.read(), PATIENCE)
    assert reply is not grpc.aio.EOF, "the stream ended"
    return reply.value


async def test_a_note_committed_reaches_an_open_stream_through_notify(probes, engine, token_for):
    probe = await started(probes)
    async with grpc.aio.insecure_channel(probe.address) as channel:
        await note(engine, "ward-1", "first")
        stream = follow(channel, "ward-1", token_for())
        assert await next_note(stream) == "first"

        waiting = asyncio.ensure_future(stream.read())
        await note(engine, "ward-2", "someone else's")
        await note(engine, "ward-1", "second")
        assert (await asyncio.wait_for(waiting, PATIENCE)).value == "second"
        stream.cancel()


async def test_a_user_holds_at_most_the_cap_and_may_open_another_once_one_closes(
    probes, engine, token_for
):
    probe = await started(probes, NOBAT_MAX_STREAMS_PER_USER="2")
    await note(engine, "ward-1", "hello")
    async with grpc.aio.insecure_channel(probe.address) as channel:
        held = [follow(channel, "ward-1", token_for()) for _ in range(2)]
        for stream in held:
            assert await next_note(stream) == "hello"

        refused = await expect_code(
            follow(channel, "ward-1", token_for()).read(), grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        assert "at most 2 live streams per user" in refused.details()
        quota, retry = error_details_pb2.QuotaFailure(), error_details_pb2.RetryInfo()
        details = details_of(refused)
        assert next(d for d in details if d.Is(quota.DESCRIPTOR)).Unpack(quota)
        assert quota.violations[0].subject == "patient:patient-1"
        assert next(d for d in details if d.Is(retry.DESCRIPTOR)).Unpack(retry)
        assert retry.retry_delay.seconds > 0

        # Another user is not held back by this one's streams.
        assert await next_note(follow(channel, "ward-1", token_for("patient-2"))) == "hello"

        held.pop().cancel()
        # The server hears of the cancel a moment later; until then the cap still holds.
        for _ in range(int(PATIENCE / 0.1)):
            again = follow(channel, "ward-1", token_for())
            try:
                assert await next_note(again) == "hello"
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                await asyncio.sleep(0.1)
        else:
            pytest.fail("a stream closed, and still no other may be opened")


async def test_a_stream_ends_unauthenticated_when_its_token_expires(probes, engine, token_for):
    probe = await started(probes)
    await note(engine, "ward-1", "hello")
    async with grpc.aio.insecure_channel(probe.address) as channel:
        # Expires within two seconds, while the stream is idle.
        stream = follow(channel, "ward-1", token_for(ttl=2))
        assert await next_note(stream) == "hello"

        expired = await expect_code(
            asyncio.wait_for(stream.read(), PATIENCE), grpc.StatusCode.UNAUTHENTICATED
        )
        assert "token expired" in expired.details()


async def test_a_stream_ends_ok_at_its_maximum_age(probes, engine, token_for):
    probe = await started(probes, NOBAT_MAX_STREAM_AGE_SECONDS="1")
    await note(engine, "ward-1", "hello")
    async with grpc.aio.insecure_channel(probe.address) as channel:
        stream = follow(channel, "ward-1", token_for())
        assert await next_note(stream) == "hello"

        assert await asyncio.wait_for(stream.read(), PATIENCE) is grpc.aio.EOF
        assert await stream.code() == grpc.StatusCode.OK


async def listener_pids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        )
        return list(found.scalars())


async def test_the_listener_reconnects_after_its_connection_is_killed(probes, engine, token_for):
    probe = await started(probes)
    await note(engine, "ward-1", "before")
    async with grpc.aio.insecure_channel(probe.address) as channel:
        stream = follow(channel, "ward-1", token_for())
        assert await next_note(stream) == "before"
        [killed] = await listener_pids(engine)

        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        # Committed while nobody may be listening: the re-read after reconnecting finds it.
        await note(engine, "ward-1", "while cut off")
        assert await next_note(stream) == "while cut off"

        for _ in range(int(PATIENCE / 0.1)):
            now_listening = await listener_pids(engine)
            if now_listening:
                break
            await asyncio.sleep(0.1)
        assert len(now_listening) == 1 and now_listening != [killed]
        await note(engine, "ward-1", "after")
        assert await next_note(stream) == "after"
        stream.cancel()
