"""gRPC plumbing shared by the four services.

One interceptor does, for every RPC: authenticate and authorize, carry the correlation
id, time the call, and turn failures into gRPC statuses. Servicers stay translators.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from runtime import auth, errors, logs, metrics, text, tracing
from runtime.streams import OpenStreams, StreamLimits

log = logging.getLogger(__name__)

CORRELATION_METADATA = "x-correlation-id"
OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

_CODES: dict[type[errors.DomainError], int] = {
    errors.InvalidArgument: code_pb2.INVALID_ARGUMENT,
    errors.NotFound: code_pb2.NOT_FOUND,
    errors.AlreadyExists: code_pb2.ALREADY_EXISTS,
    errors.FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    errors.Conflict: code_pb2.ABORTED,
    errors.ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
    errors.Unavailable: code_pb2.UNAVAILABLE,
    errors.PermissionDenied: code_pb2.PERMISSION_DENIED,
    errors.Unauthenticated: code_pb2.UNAUTHENTICATED,
}


def _reason(error: errors.DomainError) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).upper()


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


# Typed details a service attaches to one kind of its errors (a SlotHeld with the hold's
# end, a WalletShortfall), for clients to read: the error's kind -> its detail message.
ErrorDetails = Mapping[type[errors.DomainError], Callable[[Any], Message]]


def to_status(
    error: errors.DomainError, domain: str, described: ErrorDetails = MappingProxyType({})
) -> grpc.Status:
    """The gRPC status, with google.rpc details, that tells a caller what went wrong."""
    code = next(c for kind, c in _CODES.items() if isinstance(error, kind))
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=_reason(error), domain=domain, metadata=dict(error.metadata)
            )
        )
    ]
    if isinstance(error, errors.InvalidArgument):
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                        for f, d in error.violations
                    ]
                )
            )
        )
    elif isinstance(error, errors.FailedPrecondition):
        details.append(
            _pack(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type=_reason(error),
                            subject=error.metadata.get("subject", ""),
                            description=error.message,
                        )
                    ]
                )
            )
        )
    elif isinstance(error, errors.ResourceExhausted):
        details += _exhausted(error)
    details += [
        _pack(describe(error)) for kind, describe in described.items() if isinstance(error, kind)
    ]
    return rpc_status.to_status(
        status_pb2.Status(code=code, message=error.message, details=details)
    )


def _exhausted(error: errors.ResourceExhausted) -> list[any_pb2.Any]:
    """When to try again (RetryInfo, which gRPC clients and gateways honour) and which quota
    ran out (QuotaFailure)."""
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromTimedelta(error.retry_after)
    quota = error_details_pb2.QuotaFailure(
        violations=[
            error_details_pb2.QuotaFailure.Violation(
                subject=error.subject, description=error.message
            )
        ]
    )
    return [_pack(retry), _pack(quota)]


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Auth, the request's text (runtime.text), correlation, metrics and error mapping
    around every RPC but health and reflection."""

    def __init__(
        self,
        domain: str,
        verifier: auth.TokenVerifier,
        access: Mapping[str, frozenset[str]],
        described: ErrorDetails = MappingProxyType({}),
        multi_line: frozenset[str] = frozenset(),
        streams: OpenStreams | None = None,
    ) -> None:
        """`streams`: how many live streams a caller may hold and for how long
        (runtime.streams); by default StreamLimits' own."""
        self._domain = domain
        self._streams = streams or OpenStreams(StreamLimits())
        self._described = described
        self._verifier = verifier
        # Methods are named in full: /nobat.booking.v1.BookingService/StartCheckout.
        self._access = access
        # Full names of the request fields that may hold several lines of text.
        self._multi_line = multi_line

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_PREFIXES):
            return handler
        method = details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=_reading(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=_reading(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        # No RPC streams requests in; one that someday does is refused until this
        # interceptor checks its caller too, rather than served to anyone.
        return _refused(handler, method)

    @contextlib.asynccontextmanager
    async def _scope(
        self, method: str, context: grpc.aio.ServicerContext, request: Message
    ) -> AsyncIterator[None]:
        """Correlation id, verified caller and checked text for the duration of one RPC. A
        failure is turned into its status inside, so an INTERNAL answer and its log line
        carry the correlation id."""
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        correlation = logs.correlation_id.set(correlation_of(metadata.get(CORRELATION_METADATA)))
        caller = None
        try:
            verified = await self._verifier.verify(metadata)
            auth.authorize(verified, self._access.get(method), method.rsplit("/", 1)[-1])
            caller = auth.set_caller(verified)
            # After the caller is known: a stranger learns nothing of a request's fields.
            if isinstance(request, _Unreadable):
                raise request.error
            text.check_text(request, self._multi_line)
            yield
        except Exception as exc:
            raise _Failed(self._status(exc)) from exc
        finally:
            # A stream its caller cancelled after a message is closed later by asyncio, in a
            # task of its own whose context never held these values: nothing to reset there.
            with contextlib.suppress(ValueError):
                if caller is not None:
                    auth.reset_caller(caller)
                logs.correlation_id.reset(correlation)

    def _wrap_unary(self, method: str, behavior: Callable):
        async def wrapped(request, context):
            started = time.perf_counter()
            code = "OK"
            try:
                async with self._scope(method, context, request):
                    return await behavior(request, context)
            except _Failed as failed:
                code = failed.status.code.name
                await _abort(context, failed.status)
            finally:
                metrics.rpc_duration.labels(method, code).observe(time.perf_counter() - started)

        return wrapped

    def _wrap_stream(self, method: str, behavior: Callable):
        async def wrapped(request, context) -> AsyncIterator:
            started = time.perf_counter()
            # A caller that goes away ends the generator with GeneratorExit or a
            # cancellation, which no `except` below sees: CANCELLED unless it ran to its end.
            code = "CANCELLED"
            try:
                async with self._scope(method, context, request):
                    responses = behavior(request, context)
                    async for response in self._streams.serve(auth.current_caller(), responses):
                        yield response
                code = "OK"
            except _Failed as failed:
                code = failed.status.code.name
                await _abort(context, failed.status)
            finally:
                metrics.stream_duration.labels(method, code).observe(time.perf_counter() - started)

        return wrapped

    def _status(self, exc: Exception) -> grpc.Status:
        if isinstance(exc, grpc.aio.AbortError):
            raise exc
        if isinstance(exc, errors.DomainError):
            return to_status(exc, self._domain, self._described)
        if getattr(exc, "connection_invalidated", False):
            # The database connection was lost mid-call; the pool has already replaced
            # it, and the same call may simply be made again.
            lost = errors.Unavailable("the database connection was lost; retry")
            return to_status(lost, self._domain, self._described)
        correlation = logs.correlation_id.get()
        log.exception("unexpected error serving an RPC; correlation id %s", correlation)
        return rpc_status.to_status(
            status_pb2.Status(
                code=code_pb2.INTERNAL,
                message=f"internal error; correlation id {correlation}",
                details=[_pack(error_details_pb2.RequestInfo(request_id=correlation))],
            )
        )


# A correlation id a caller sends is kept when it looks like one; anything else (empty,
# blank, huge, with control characters that would forge log lines) is replaced, so every
# answer and log line has one worth searching for.
_CORRELATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def correlation_of(sent: str | None) -> str:
    """The correlation id of an RPC: the caller's, if well formed, or a new one."""
    if sent and _CORRELATION.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class _Unreadable:
    """What a request's parser gives for bytes that are not its message (_reading)."""

    def __init__(self, error: errors.UnreadableRequest) -> None:
        self.error = error


# protobuf's words for what it could not parse, after the message's name.
_DECODE_PREFIX = re.compile(r"^Error parsing message(?: with type '[^']*')?:?\s*")


def _reading(deserializer: Callable[[bytes], Message] | None) -> Callable | None:
    """The handler's request parser (a generated `Request.FromString`), giving an
    _Unreadable for bytes it cannot parse instead of raising. gRPC parses a request before
    any interceptor code runs, and a parser that raises makes it answer UNKNOWN and log a
    traceback; an _Unreadable reaches `_scope`, which refuses it as INVALID_ARGUMENT once
    the caller is checked."""
    if deserializer is None:
        return None
    message_type = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_type, "DESCRIPTOR", None)
    name = descriptor.full_name if descriptor is not None else "request message"

    def read(raw: bytes) -> Message | _Unreadable:
        try:
            return deserializer(raw)
        except DecodeError as exc:
            problem = _DECODE_PREFIX.sub("", str(exc)) or "its bytes cannot be parsed"
            return _Unreadable(errors.UnreadableRequest(name, problem))

    return read


class _Failed(Exception):
    """An RPC's failure, already turned into the status its caller gets."""

    def __init__(self, status: grpc.Status) -> None:
        super().__init__(status.details)
        self.status = status


async def _abort(context: grpc.aio.ServicerContext, status: grpc.Status) -> None:
    await context.abort(status.code, status.details, status.trailing_metadata)


def _refused(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    async def refuse(request_iterator, context):
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED, f"{method} streams requests in: not served"
        )

    make = (
        grpc.stream_unary_rpc_method_handler
        if handler.stream_unary is not None
        else grpc.stream_stream_rpc_method_handler
    )
    return make(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


@dataclass(frozen=True)
class Connections:
    """How the server keeps its clients' connections: keepalive pings find a client that
    vanished (its streams end instead of waiting forever), and a connection's maximum age
    makes clients reconnect now and then, so load spreads over new replicas."""

    # Ping a client after this long without activity; give up on it after the timeout.
    keepalive_time: float = 30.0
    keepalive_timeout: float = 10.0
    # The most often a client may ping without sending data; more often is a strike, and
    # two strikes close its connection (gRPC's default policy).
    min_client_ping_interval: float = 10.0
    # After this long a connection is told to go away (GOAWAY, gRPC adds +/-10% jitter);
    # calls on it have the grace to finish. The grace outlasts a stream's maximum age
    # (runtime.streams), so streams end at their own age, OK, rather than cut.
    max_age: float = 1800.0
    max_age_grace: float = 1900.0

    def options(self) -> list[tuple[str, int]]:
        def ms(seconds: float) -> int:
            return int(seconds * 1000)

        return [
            ("grpc.keepalive_time_ms", ms(self.keepalive_time)),
            ("grpc.keepalive_timeout_ms", ms(self.keepalive_timeout)),
            # Clients that keep an idle channel warm (no call open) are not punished.
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", ms(self.min_client_ping_interval)),
            ("grpc.http2.max_ping_strikes", 2),
            ("grpc.max_connection_age_ms", ms(self.max_age)),
            ("grpc.max_connection_age_grace_ms", ms(self.max_age_grace)),
        ]


def create_server(
    interceptor: ServiceInterceptor,
    *,
    max_concurrent_rpcs: int = 1000,
    connections: Connections | None = None,
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """A grpc.aio server with health and the service interceptor; bind ports and add
    servicers, then `enable_reflection` once every servicer is added."""
    server = grpc.aio.server(
        interceptors=[*tracing.server_interceptors(), interceptor],
        # Beyond this, calls get RESOURCE_EXHAUSTED at once instead of queueing without bound.
        maximum_concurrent_rpcs=max_concurrent_rpcs,
        options=[
            # gRPC sets SO_REUSEPORT by default, which would let a second copy of a service
            # bind the same port silently and share its calls; a taken port must fail loudly.
            ("grpc.so_reuseport", 0),
            *(connections or Connections()).options(),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return server, health_servicer


def health_server(health_servicer: health.aio.HealthServicer) -> grpc.aio.Server:
    """A server of grpc.health.v1 alone, in plaintext, for probes that cannot speak TLS
    (kubelet's). It shares the main server's servicer, so it reports what that one does,
    NOT_SERVING during shutdown included; it answers nothing else."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return server


def enable_reflection(server: grpc.aio.Server, service_names: list[str]) -> None:
    names = [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)


async def set_serving(health_servicer, service_names: list[str], serving: bool) -> None:
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ["", *service_names]:
        await health_servicer.set(name, status)


class _BearerToken(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata["authorization"] = f"Bearer {self._token()}"
        correlation = logs.correlation_id.get()
        if correlation and CORRELATION_METADATA not in metadata:
            metadata[CORRELATION_METADATA] = correlation
        # A namedtuple at run time; the stubs declare a plain class.
        return details._replace(metadata=metadata)  # type: ignore[attr-defined]

    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._with_token(details), request)

    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._with_token(details), request)


@dataclass(frozen=True)
class ClientKeepalive:
    """How a client keeps its channel to another service alive and comes back to it.

    A server's maximum connection age (Connections) sends GOAWAY: gRPC then opens a new
    connection for the next calls by itself, and a call caught in between is UNAVAILABLE,
    which client_channel's retry policy sends again. Pings find a connection that died
    silently (a node gone, a NAT forgetting it) before a call waits on it for its whole
    deadline."""

    # Never more often than a server's min_client_ping_interval (Connections), or the
    # server counts strikes and closes the connection with too_many_pings.
    time: float = 30.0
    timeout: float = 10.0
    # After payment restarts, the channel tries again within this, not gRPC's 120 s.
    max_reconnect_backoff: float = 5.0

    def options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.keepalive_time_ms", int(self.time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.timeout * 1000)),
            # An idle channel is kept warm too (servers permit it), so the first call after
            # a quiet spell does not find a dead connection.
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.max_reconnect_backoff_ms", int(self.max_reconnect_backoff * 1000)),
        ]


CLIENT_KEEPALIVE = ClientKeepalive()


def client_channel(
    target: str,
    token: Callable[[], str],
    service_names: list[str],
    credentials: grpc.ChannelCredentials | None = None,
) -> grpc.aio.Channel:
    """A channel to another nobat service, retrying UNAVAILABLE with backoff and kept
    alive across servers' connection ages (ClientKeepalive); over TLS with `credentials`
    (runtime.tls), in plaintext without.

    gRPC retries only what never reached the server's handler or what the server
    reports UNAVAILABLE; every nobat mutating RPC takes an idempotency key, so a retry
    of one that did reach it is answered from the idempotency store.
    """
    service_config = {
        "methodConfig": [
            {
                "name": [{"service": name} for name in service_names],
                "timeout": "10s",
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(service_config)),
        *CLIENT_KEEPALIVE.options(),
    ]
    interceptors = [_BearerToken(token), *tracing.client_interceptors()]
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
