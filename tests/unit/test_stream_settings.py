"""Live streams' and the gRPC server's connection settings: sane defaults, each one
settable, and a refusal, naming the setting, of values that would cut streams short."""

from __future__ import annotations

import pytest

from runtime.config import Env, InvalidSetting
from runtime.settings import streams_and_connections


def test_by_default_a_user_holds_five_streams_for_half_an_hour_and_the_connection_outlasts_them():
    streams, connections = streams_and_connections(Env({}))
    assert (streams.per_user, streams.max_age) == (5, 1800)
    assert connections.max_age_grace >= streams.max_age
    options = dict(connections.options())
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.max_connection_age_grace_ms"] >= 1_800_000
    # A refused caller is told to come back once keepalive has found a vanished stream.
    assert streams.retry_after == (connections.keepalive_time + connections.keepalive_timeout)


def test_a_longer_stream_age_lengthens_the_default_grace_with_it():
    streams, connections = streams_and_connections(Env({"NOBAT_MAX_STREAM_AGE_SECONDS": "7200"}))
    assert connections.max_age_grace > streams.max_age == 7200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NOBAT_MAX_STREAMS_PER_USER", "0"),
        ("NOBAT_MAX_STREAM_AGE_SECONDS", "0"),
        ("NOBAT_STREAM_SAFETY_POLL_SECONDS", "-1"),
        ("NOBAT_GRPC_KEEPALIVE_SECONDS", "0"),
        # A connection's grace shorter than a stream's age would cut streams mid-life.
        ("NOBAT_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS", "60"),
    ],
)
def test_values_that_would_break_streams_are_refused_by_name(name: str, value: str):
    with pytest.raises(InvalidSetting) as refused:
        streams_and_connections(Env({name: value}))
    assert refused.value.name == name
