"""A server's maximum connection age moves its clients to new connections, so new
replicas get calls; nobat's clients follow without their callers noticing."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import wrappers_pb2

from runtime import rpc

WHO = "/nobat.test.Peer/Who"


class _Open(grpc.aio.ServerInterceptor):
    """No auth: this test is about connections, not about who calls."""

    async def intercept_service(self, continuation, details):
        return await continuation(details)


async def who(request: wrappers_pb2.StringValue, context) -> wrappers_pb2.StringValue:
    # The client's address and port: a new connection has a new port.
    return wrappers_pb2.StringValue(value=context.peer())


async def test_a_client_keeps_working_across_the_servers_connection_age() -> None:
    age = rpc.Connections(max_age=0.4, max_age_grace=0.4)
    server, _ = rpc.create_server(_Open(), connections=age)
    handler = grpc.unary_unary_rpc_method_handler(
        who,
        request_deserializer=wrappers_pb2.StringValue.FromString,
        response_serializer=wrappers_pb2.StringValue.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("nobat.test.Peer", {"Who": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = rpc.client_channel(f"127.0.0.1:{port}", lambda: "unused", ["nobat.test.Peer"])
    call = channel.unary_unary(
        WHO,
        request_serializer=wrappers_pb2.StringValue.SerializeToString,
        response_deserializer=wrappers_pb2.StringValue.FromString,
    )
    try:
        peers = []
        # About five connection ages, a call every 50 ms: each one must be answered.
        for _ in range(40):
            peers.append((await call(wrappers_pb2.StringValue(), timeout=5)).value)
            await asyncio.sleep(0.05)
    finally:
        await channel.close()
        await server.stop(None)
    assert len(set(peers)) >= 3, f"the server never closed a connection: {set(peers)}"
