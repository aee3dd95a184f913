"""One service process: its connections, servers, consumers and jobs, started and
stopped in the right order.

Start: database engine, NATS, the service's own stream, gRPC serving, health SERVING;
consumers bind to the streams they read as soon as their publishers have created them.
Stop (SIGTERM or Ctrl-C): health NOT_SERVING so load balancers look elsewhere, the gRPC
server stops taking calls and lets in-flight ones finish within the grace period,
consumers stop fetching and finish what they hold, background tasks end, NATS drains
(pending publishes and acks are flushed), and only then the engine is disposed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from aiohttp import web
from nats.aio.client import Client
from sqlalchemy.engine import make_url

from runtime import messaging, metrics, rpc, tracing
from runtime.auth import Issuer, ServiceToken, TokenVerifier, read_issuers
from runtime.config import InvalidSetting, MissingSetting
from runtime.consumer import EventConsumer, EventHandlers
from runtime.db import UnitOfWork, create_engine, sessionmaker
from runtime.events import Stream
from runtime.jobs import purge_past_use
from runtime.listener import Listener
from runtime.relay import OutboxRelay
from runtime.settings import RuntimeSettings
from runtime.streams import OpenStreams
from runtime.wire import sign_page_tokens_with
from runtime.wiring import Wiring, inbox_prefix

log = logging.getLogger(__name__)


def listen_dsn(database_url: str) -> str:
    """The plain libpq form of a SQLAlchemy URL, for the process's LISTEN connection."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


# The service's unit of work: the runtime's, or its subclass with the repositories on it.
U = TypeVar("U", bound=UnitOfWork)


class ServiceProcess(Generic[U]):
    def __init__(
        self,
        name: str,
        settings: RuntimeSettings,
        *,
        wiring: Wiring,
        unit: type[U],
        serve_metrics: bool = True,
    ) -> None:
        """`unit`: the service's unit of work, the one with its repositories on it."""
        self.name = name
        self._unit = unit
        self.settings = settings
        self._wiring = wiring
        self._serve_metrics = serve_metrics
        self._servicers: list[tuple[Callable, object, str, Mapping[str, frozenset[str]]]] = []
        self._subscriptions: list[tuple[str, Stream, EventHandlers]] = []
        self._jobs: list[tuple[str, float, Callable[[], Awaitable[object]]]] = []
        # Every service's housekeeping, on its own slow schedule (runtime.retention).
        retention = settings.retention
        self.every(
            retention.every,
            functools.partial(purge_past_use, self.unit_of_work, retention, settings.clock),
            "purge",
        )
        self._http: list[tuple[web.Application, int]] = []
        self._closers: list[Callable[[], Awaitable[object]]] = []
        self._described: rpc.ErrorDetails = {}
        self._multi_line: frozenset[str] = frozenset()
        self.http_ports: list[int] = []
        self._stop = asyncio.Event()
        self.port: int | None = None
        self.health_port: int | None = None
        # Built once: every PostgreSQL connection of the process (pool, LISTEN) uses it.
        self.database_ssl = settings.tls.database_context()
        # Every replica signs and reads page tokens alike, so a client may page across them.
        sign_page_tokens_with(settings.page_token_secret)
        # Read before anything starts: a bad issuers file stops the service with its name.
        self._verifier = TokenVerifier(self._issuers())
        self.engine = create_engine(settings.database_url, ssl=self.database_ssl)
        self._sessions = sessionmaker(self.engine)
        # Set once NATS is connected: it publishes what units commit.
        self._relay: OutboxRelay | None = None
        # The process's one LISTEN connection, the live streams' wake-up. It connects
        # when the first of them watches a channel of it.
        self.listener = Listener(
            listen_dsn(settings.database_url),
            ssl=self.database_ssl,
            safety_poll=settings.streams.safety_poll,
        )

    def unit_of_work(self) -> U:
        uow = self._unit(self._sessions, self._wiring.publishes)
        if self._relay is not None:
            uow.hand_over = self._relay.hand_over
        return uow

    def add_servicer(
        self,
        add_to_server: Callable,
        servicer: object,
        service_name: str,
        access: Mapping[str, frozenset[str]],
        described: rpc.ErrorDetails = MappingProxyType({}),
        multi_line: frozenset[str] = frozenset(),
    ) -> None:
        """`access` maps each RPC's short name to the roles allowed to call it (and the
        services, by name); `described`, kinds of error to the details they carry;
        `multi_line`, the request fields whose text may span lines (runtime.text)."""
        self._servicers.append((add_to_server, servicer, service_name, access))
        self._described = {**self._described, **described}
        self._multi_line |= multi_line

    def consume(
        self,
        stream: Stream,
        handlers: EventHandlers,
        name: str | None = None,
    ) -> None:
        reader = self._wiring.reader(stream, name or self.name)
        self._subscriptions.append((reader.durable, stream, handlers))

    def every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        """A periodic job; it must be safe with one copy running on every replica."""
        self._jobs.append((name, seconds, job))

    def serve_http(self, app: web.Application, port: int) -> None:
        """An HTTP endpoint beside gRPC (payment's webhooks), started after the consumers
        and stopped with the gRPC server, before anything it uses is closed."""
        self._http.append((app, port))

    def on_shutdown(self, close: Callable[[], Awaitable[object]]) -> None:
        """Closes a client the handlers used (a gateway's, another service's) once
        nothing can call it any more."""
        self._closers.append(close)

    def stop(self) -> None:
        self._stop.set()

    def service_token(self, callee: str) -> Callable[[], str]:
        """This service's token for its calls to `callee`, signed with its own key."""
        if self.settings.service_signing_key is None:
            raise MissingSetting("NOBAT_SERVICE_SIGNING_KEY")
        return ServiceToken(self.settings.service_signing_key, self.name, callee)

    def _issuers(self) -> list[Issuer]:
        path = self.settings.token_issuers_file
        try:
            with open(path) as file:
                return read_issuers(file.read(), self.name, self.settings.token_max_lifetime)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidSetting("NOBAT_TOKEN_ISSUERS_FILE", path, repr(exc)) from None

    async def run(self, ready: Callable[[int], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._stop.set)
        if self._serve_metrics:
            metrics.serve_metrics(self.settings.metrics_port)

        identity = self.settings.tls.identity
        nc = await messaging.connect(
            self.settings.nats_url,
            name=self.name,
            inbox_prefix=inbox_prefix(self.name),
            tls=identity.client_context() if identity else None,
        )
        js = nc.jetstream()
        if self._wiring.publishes is not None:
            await messaging.ensure_stream(
                js,
                self._wiring.publishes,
                self.settings.duplicate_window,
                self.settings.stream_replicas,
            )

        consumers = [
            EventConsumer(
                js,
                name=name,
                stream=stream,
                handlers=handlers,
                unit_of_work=self.unit_of_work,
                ack_wait=self.settings.ack_wait,
                max_deliver=self.settings.max_deliver,
            )
            for name, stream, handlers in self._subscriptions
        ]
        access = {
            f"/{service_name}/{method}": roles
            for _, _, service_name, methods in self._servicers
            for method, roles in methods.items()
        }
        interceptor = rpc.ServiceInterceptor(
            self.name,
            self._verifier,
            access,
            self._described,
            self._multi_line,
            streams=OpenStreams(self.settings.streams),
        )
        server, health = rpc.create_server(interceptor, connections=self.settings.connections)
        service_names = [service_name for _, _, service_name, _ in self._servicers]
        for add_to_server, servicer, _, _ in self._servicers:
            add_to_server(servicer, server)
        rpc.enable_reflection(server, service_names)
        address = f"0.0.0.0:{self.settings.grpc_port}"
        probes = None
        if identity is None:
            self.port = server.add_insecure_port(address)
        else:
            self.port = server.add_secure_port(address, identity.server_credentials())
            probes = rpc.health_server(health)
            self.health_port = probes.add_insecure_port(f"0.0.0.0:{self.settings.tls.health_port}")
            await probes.start()
        await server.start()

        runners = []
        for app, port in self._http:
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5)
            await runner.setup()
            site = web.TCPSite(runner, "0.0.0.0", port)
            await site.start()
            runners.append(runner)
            # The runner's one site: where it listens (the port chosen when given 0).
            self.http_ports.append(runner.addresses[0][1])

        tasks = []
        # A service that states no facts (notification) has no outbox to relay, and
        # polling it would cost a transaction or two a second for nothing.
        if self._wiring.publishes is not None:
            self._relay = OutboxRelay(self.engine, js)
            tasks.append(asyncio.create_task(self._relay.run(), name="outbox-relay"))
        consuming = [asyncio.create_task(c.run(), name=f"consumer-{c.name}") for c in consumers]
        tasks += [
            asyncio.create_task(_periodically(job, seconds, name), name=name)
            for name, seconds, job in self._jobs
        ]
        await rpc.set_serving(health, service_names, True)
        log.info("%s serving gRPC on port %s", self.name, self.port)
        # What starting built (tables, compiled statements, protobuf and gRPC machinery)
        # lives as long as the process: the collector stops walking it on every full
        # collection, which flows' short-lived objects trigger.
        gc.freeze()
        if ready is not None:
            ready(self.port)

        try:
            await self._stop.wait()
        finally:
            log.info("%s shutting down", self.name)
            await health.enter_graceful_shutdown()
            await server.stop(self.settings.shutdown_grace)
            if probes is not None:
                await probes.stop(None)
            for runner in runners:
                await runner.cleanup()
            for consumer in consumers:
                await consumer.stop()
            if consuming:
                await asyncio.wait(consuming, timeout=self.settings.shutdown_grace)
            for task in tasks + consuming:
                task.cancel()
            await asyncio.gather(*tasks, *consuming, return_exceptions=True)
            # After the relay and the streams, the last to wait on it.
            await self.listener.close()
            for close in self._closers:
                try:
                    await close()
                except Exception:
                    log.exception("closing a client failed")
            await _close(nc)
            await self.engine.dispose()
            log.info("%s stopped", self.name)


async def _close(nc: Client) -> None:
    """Drain NATS (flushes pending acks and publishes); if it is unreachable, just close."""
    if nc.is_connected:
        try:
            await asyncio.wait_for(nc.drain(), timeout=5)
        except Exception as exc:
            log.warning("could not drain NATS (%s); closing", exc)
    if not nc.is_closed:
        with contextlib.suppress(Exception):
            await nc.close()


async def _periodically(job: Callable[[], Awaitable[object]], seconds: float, name: str) -> None:
    while True:
        try:
            if tracing.enabled:
                with tracing.job(name):
                    await job()
            else:
                await job()
        except Exception:
            log.exception("periodic job %s failed; it runs again in %.0fs", name, seconds)
        await asyncio.sleep(seconds)


def run_until_stopped(process: ServiceProcess) -> None:
    """Run the process on a fresh event loop until SIGTERM or Ctrl-C, then exit.

    Not `asyncio.run`: when NATS died before the service (a whole stack killed at
    once), nats-py can leave a reconnect task running after `close()`, and
    `asyncio.run` would wait for it forever. Everything that matters was flushed and
    closed by `run()`; stray tasks get a bounded moment to end, then the loop closes.
    """
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(process.run())
    finally:
        stray = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in stray:
            task.cancel()
        if stray:
            loop.run_until_complete(asyncio.wait(stray, timeout=2))
        loop.close()
