"""A minimal service built on the runtime, run as a real process by the runtime tests.

It has what a real service has (gRPC with auth and error mapping, an outbox relay, a
durable consumer with an inbox) and nothing else: events are protobuf well-known types,
and their effect is a row in `effects`, without a unique constraint, so an effect that
happened twice shows up as two rows.
"""

from __future__ import annotations

import asyncio
import os

import grpc
from google.protobuf import empty_pb2, struct_pb2, wrappers_pb2
from sqlalchemy import DDL, Column, Integer, MetaData, Table, Text, event, insert, select

from runtime import auth, errors, logs
from runtime.config import Env
from runtime.consumer import Concerning, PermanentFailure
from runtime.db import UnitOfWork
from runtime.events import Stream
from runtime.idempotency import answer_once, caller_scope
from runtime.service import ServiceProcess
from runtime.settings import RuntimeSettings
from runtime.streams import notify_trigger
from runtime.wiring import Reader, Wiring

PROBE_STREAM = Stream("PROBE", "probe")
SERVICE_NAME = "nobat.probe.v1.Probe"

metadata = MetaData()
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Text),
    Column("value", Text, nullable=False),
)


# Notes on a topic, followed live by the Follow stream; each insert NOTIFYs its topic.
NOTES_CHANNEL = "nobat_probe_notes"
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("topic", Text, nullable=False),
    Column("text", Text, nullable=False),
)
for statement in (
    notify_trigger("probe_notes_notify", NOTES_CHANNEL, "topic"),
    "CREATE TRIGGER probe_notes_notify AFTER INSERT ON notes"
    " FOR EACH ROW EXECUTE FUNCTION probe_notes_notify()",
):
    event.listen(notes, "after_create", DDL(statement))


# Deliveries seen per "flaky-N" value: such an event fails its first N deliveries.
_deliveries: dict[str, int] = {}


async def record_effect(event: wrappers_pb2.StringValue, uow: UnitOfWork) -> None:
    if event.value.startswith("poison"):
        raise PermanentFailure("probe events starting with 'poison' can never be handled")
    if event.value.startswith("always-fails"):
        raise RuntimeError("a transient-looking failure that never clears")
    if event.value.startswith("slow-"):
        # Longer than the consumer's ack wait: only its beats keep it from redelivery.
        await asyncio.sleep(float(event.value.split("-")[1]))
    if event.value.startswith("flaky-"):
        seen = _deliveries[event.value] = _deliveries.get(event.value, 0) + 1
        if seen <= int(event.value.split("-")[1]):
            raise RuntimeError(f"transient failure {seen} of {event.value}")
    async with uow:
        await uow.session.execute(insert(effects).values(value=event.value))
        await uow.commit()


def build(process: ServiceProcess[UnitOfWork]) -> None:
    async def sleep(request: wrappers_pb2.DoubleValue, context) -> empty_pb2.Empty:
        await asyncio.sleep(request.value)
        return empty_pb2.Empty()

    async def emit(request: wrappers_pb2.StringValue, context) -> empty_pb2.Empty:
        uow = process.unit_of_work()
        async with uow:
            uow.emit(request)
            await uow.commit()
        return empty_pb2.Empty()

    async def charge(request: struct_pb2.Struct, context) -> struct_pb2.Struct:
        if request["amount"] <= 0:
            raise errors.InvalidArgument("amount", "must be positive")

        async def do_charge() -> struct_pb2.Struct:
            async with uow:
                charged = await uow.session.execute(
                    insert(effects)
                    .values(value=f"charge {request['amount']:.0f}")
                    .returning(effects.c.id)
                )
                await uow.commit()
            answer = struct_pb2.Struct()
            answer.update(
                {"charge_id": charged.scalar_one(), "correlation_id": logs.correlation_id.get()}
            )
            return answer

        uow = process.unit_of_work()
        return await answer_once(
            uow,
            scope=caller_scope("Charge"),
            key=request["idempotency_key"],
            request=request,
            response_type=struct_pb2.Struct,
            answer=do_charge,
        )

    async def administer(request: empty_pb2.Empty, context) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def crash(request: empty_pb2.Empty, context) -> empty_pb2.Empty:
        raise RuntimeError("the probe's deliberate bug")

    async def follow(request: wrappers_pb2.StringValue, context):
        """The topic's notes, oldest first, then each new one as it commits; a live stream
        as the services' are, on the process's listener."""
        seen = 0
        async with process.listener.watch(NOTES_CHANNEL, request.value) as news:
            while True:
                async with process.engine.connect() as conn:
                    found = await conn.execute(
                        select(notes.c.id, notes.c.text)
                        .where(notes.c.topic == request.value, notes.c.id > seen)
                        .order_by(notes.c.id)
                    )
                for note_id, text in found:
                    seen = note_id
                    yield wrappers_pb2.StringValue(value=text)
                await news()

    def unary(behavior, request_type):
        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=request_type.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )

    async def upload(requests, context) -> empty_pb2.Empty:
        async for _ in requests:
            pass
        return empty_pb2.Empty()

    handlers = {
        # Streams requests in, which no nobat RPC does: the interceptor must refuse it.
        "Upload": grpc.stream_unary_rpc_method_handler(
            upload,
            request_deserializer=empty_pb2.Empty.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        ),
        "Follow": grpc.unary_stream_rpc_method_handler(
            follow,
            request_deserializer=wrappers_pb2.StringValue.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        ),
        "Sleep": unary(sleep, wrappers_pb2.DoubleValue),
        "Emit": unary(emit, wrappers_pb2.StringValue),
        "Charge": unary(charge, struct_pb2.Struct),
        "Administer": unary(administer, empty_pb2.Empty),
        "Crash": unary(crash, empty_pb2.Empty),
    }

    def add_to_server(servicer: object, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),)
        )

    anyone = frozenset({auth.PATIENT, auth.DOCTOR, auth.ADMIN, auth.as_service("booking")})
    process.add_servicer(
        add_to_server,
        None,
        SERVICE_NAME,
        {
            "Upload": anyone,
            "Follow": anyone,
            "Sleep": anyone,
            "Emit": anyone,
            "Charge": frozenset({auth.PATIENT, auth.DOCTOR}),
            "Administer": frozenset({auth.ADMIN}),
            "Crash": anyone,
        },
    )
    # Events for "elsewhere" are some other consumer's business, as another context's
    # purchases are to booking: passed over before any transaction.
    ours = Concerning(lambda event: not event.value.startswith("elsewhere"), record_effect)
    process.consume(PROBE_STREAM, {wrappers_pb2.StringValue: ours}, name="probe")

    if os.environ.get("NOBAT_PROBE_TICKS"):
        runs = 0

        async def tick() -> None:
            nonlocal runs
            runs += 1
            if runs == 2:
                raise RuntimeError("the second tick fails; the job must go on")
            uow = process.unit_of_work()
            async with uow:
                await uow.session.execute(insert(effects).values(value="tick"))
                await uow.commit()

        process.every(0.1, tick, "tick")


def main() -> None:
    env = Env()
    settings = RuntimeSettings.from_env(env)
    logs.configure_logging("probe", settings.log_level)
    process = ServiceProcess(
        "probe",
        settings,
        wiring=Wiring(PROBE_STREAM, (Reader(PROBE_STREAM, "probe"),)),
        unit=UnitOfWork,
    )
    build(process)
    asyncio.run(process.run())


if __name__ == "__main__":
    main()
