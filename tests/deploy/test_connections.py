"""The overlays set how the gRPC servers keep connections: long-lived clients move to new
replicas within minutes, streams are never cut, and nobat's own clients are never
refused for pinging too often."""

from __future__ import annotations

import pytest

from runtime.config import Env
from runtime.rpc import CLIENT_KEEPALIVE
from runtime.settings import streams_and_connections
from tests.deploy.contract import SERVICES
from tests.deploy.manifests import OVERLAYS, container_env, only_container, rendered, server

SETTINGS = (
    "NOBAT_GRPC_KEEPALIVE_SECONDS",
    "NOBAT_GRPC_KEEPALIVE_TIMEOUT_SECONDS",
    "NOBAT_GRPC_MIN_CLIENT_PING_SECONDS",
    "NOBAT_GRPC_MAX_CONNECTION_AGE_SECONDS",
    "NOBAT_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS",
)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_server_ages_its_connections_within_minutes_without_cutting_streams(overlay):
    docs = rendered(f"overlays/{overlay}")
    for service in SERVICES:
        env = container_env(only_container(server(docs, service)), docs)
        assert set(SETTINGS) <= set(env), f"{service}: connection settings left to defaults"
        values = {name: source.value for name, source in env.items() if source.kind != "secret"}
        # Refuses a grace shorter than a stream's age, as the service would at start-up.
        streams, connections = streams_and_connections(Env(values))
        assert connections.max_age <= 600, f"{service}: new replicas wait too long for calls"
        assert connections.max_age_grace >= streams.max_age
        assert CLIENT_KEEPALIVE.time >= connections.min_client_ping_interval
