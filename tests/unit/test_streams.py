"""How long a live stream lives (runtime.streams.OpenStreams), on a clock the test sets:
it ends when its caller's token expires, at its maximum age, or when its responses end;
a caller holds only so many at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from runtime import auth
from runtime.streams import OpenStreams, StreamExpired, StreamLimits, TooManyStreams

# The token's expiry, on the clock the streams are given; the test puts "now" just before.
EXPIRES = 1_000_000.0
SARA = auth.Caller("patient-1", auth.PATIENT, expires_at=EXPIRES)


async def idle(*said: str) -> AsyncIterator[str]:
    """A stream that says its piece, then waits for news that never comes."""
    for message in said:
        yield message
    await asyncio.Event().wait()


async def collected(responses: AsyncIterator[str]) -> list[str]:
    return [message async for message in responses]


def streams(now: float = 0.0, **limits: float) -> OpenStreams:
    """Streams on a clock that reads `now` at first, and runs on from there."""
    shift = now - time.time()
    return OpenStreams(StreamLimits(**limits), clock=lambda: time.time() + shift)  # type: ignore[arg-type]


async def test_an_idle_stream_ends_unauthenticated_when_its_token_expires():
    # A hundredth of a second of the token's life is left.
    open_streams = streams(now=EXPIRES - 0.01)
    served = open_streams.serve(SARA, idle("hello"))
    assert await anext(served) == "hello"
    with pytest.raises(StreamExpired):
        await asyncio.wait_for(anext(served), 5)


async def test_a_token_expired_already_sends_nothing():
    open_streams = streams(now=EXPIRES + 1)
    with pytest.raises(StreamExpired):
        await asyncio.wait_for(collected(open_streams.serve(SARA, idle("hello"))), 5)


async def test_an_idle_stream_ends_ok_at_its_maximum_age():
    open_streams = streams(max_age=0.01)
    assert await asyncio.wait_for(collected(open_streams.serve(SARA, idle("hello"))), 5) == [
        "hello"
    ]


async def test_a_stream_whose_responses_end_ends_and_a_caller_made_in_code_never_expires():
    forever = auth.Caller("booking", auth.SERVICE)
    assert await collected(streams(now=EXPIRES + 1).serve(forever, aiter_of("a", "b"))) == [
        "a",
        "b",
    ]


async def aiter_of(*said: str) -> AsyncIterator[str]:
    for message in said:
        yield message


async def test_a_timeout_inside_the_stream_is_its_own_failure_not_the_end_of_its_life():
    async def failing() -> AsyncIterator[str]:
        raise TimeoutError("the database did not answer")
        yield ""

    with pytest.raises(TimeoutError, match="database"):
        await collected(streams().serve(SARA, failing()))


async def test_a_caller_holds_at_most_the_cap_and_another_once_one_ends():
    open_streams = streams(per_user=2)
    held = [open_streams.serve(SARA, idle("hello")) for _ in range(2)]
    for served in held:
        assert await anext(served) == "hello"

    with pytest.raises(TooManyStreams) as refused:
        await anext(open_streams.serve(SARA, idle("hello")))
    assert refused.value.subject == "patient:patient-1"
    assert refused.value.retry_after == timedelta(seconds=StreamLimits().retry_after)
    # The same id in another role is another caller.
    doctor = auth.Caller("patient-1", auth.DOCTOR, expires_at=EXPIRES)
    assert await anext(open_streams.serve(doctor, idle("hello"))) == "hello"

    await held.pop().aclose()
    assert await anext(open_streams.serve(SARA, idle("hello"))) == "hello"
