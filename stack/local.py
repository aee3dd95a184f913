"""The whole of nobat on one machine: servers, databases, migrations and the four services.

`make run` uses it to give a developer a running system; the end-to-end tests use it
to drive real processes over real sockets. PostgreSQL and NATS are embedded unless
NOBAT_POSTGRES_URL (a server where databases can be created) and NOBAT_NATS_URL point
elsewhere.

`tls=True` puts TLS on every connection, as production has it: a throwaway CA
(stack.certs) gives each service, the embedded servers and the stack's own clients a
certificate; gRPC and NATS are mutual TLS, PostgreSQL takes SSL connections only.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runtime.config import DEVELOPMENT
from runtime.instants import CLOCK_SHIFT_SETTING, require_utc
from runtime.tls import IDENTITY_SETTINGS, TlsIdentity
from runtime.wiring import OBSERVER, nats_permissions, observer_permissions
from services.payment.entrypoints.webhooks import WEBHOOK_PATH
from stack._process import StackError, log_tail, spawn, terminate
from stack.certs import CertFiles, LocalAuthority
from stack.databases import Databases
from stack.identity import Identities
from stack.nats import EmbeddedNats
from stack.ports import ensure_port_free, free_port
from stack.postgres import EmbeddedPostgres
from stack.sandbox import SandboxGateway

ROOT = Path(__file__).resolve().parents[1]
# One per run of the local stack: page tokens outlive a restart of a service, as they do
# a rollout in production, but not the stack.
LOCAL_PAGE_TOKEN_SECRET = secrets.token_hex(32)
SERVICES = ("payment", "booking", "consultation", "notification")
# Test credentials of the local sandbox gateway; real keys only ever come from secrets.
SANDBOX_API_KEY = "sk_test_nobat_local"
SANDBOX_WEBHOOK_SECRET = "whsec_nobat_local"
# Beside the services' ports: gRPC at +0..3, metrics at +100..103.
METRICS_PORT_OFFSET = 100
WEBHOOK_PORT_OFFSET = 80
SANDBOX_PORT_OFFSET = 90
# Plaintext gRPC health beside the TLS port, at +60..63 (with tls only).
HEALTH_PORT_OFFSET = 60
# The certificate of the stack's own clients: health waits, seeding, tests.
CLIENT_CERT = "stack-client"
# Where gateways send a browser back on a developer's machine: the app they run locally.
LOCAL_APP = "http://localhost"
# What makes a service process a development one (runtime.config.DEVELOPMENT): plain
# http and localhost for return URLs and webhooks, and defaults that point at LOCAL_APP.
# Only processes started here get these; deploy/ sets real values and never DEVELOPMENT.
DEVELOPMENT_SETTINGS = {
    DEVELOPMENT: "true",
    "NOBAT_RETURN_URL_HOSTS": "localhost,127.0.0.1",
    "NOBAT_PAYMENT_RETURN_URL": f"{LOCAL_APP}/nobat/payment-return",
    "NOBAT_BOOKING_RETURN_URL": f"{LOCAL_APP}/nobat/booking-return",
    "NOBAT_CONSULTATION_RETURN_URL": f"{LOCAL_APP}/nobat/consultation-return",
}


@dataclass
class ServiceHandle:
    name: str
    grpc_port: int
    metrics_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    health_port: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


@dataclass
class LocalStack:
    data_dir: Path
    fast: bool = False
    base_port: int | None = None
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None
    sandbox: SandboxGateway | None = None
    # NOBAT_* settings given to every service (a short hold, fast jobs), for tests.
    overrides: dict[str, str] = field(default_factory=dict)
    # For tests: the instant the stack's clock reads as it starts (the services' and the
    # sandbox's; tokens and signatures keep the real one). From then on it ticks in step
    # with the real clock.
    at: datetime | None = None
    # NATS users beside the services' and the observer: name -> permissions (the bench's).
    nats_users: dict[str, dict] = field(default_factory=dict)
    # TLS on every connection of the embedded servers and the services.
    tls: bool = False
    services: dict[str, ServiceHandle] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.absolute()
        self.logs_dir = self.data_dir / "logs"
        self.identities = Identities(self.data_dir / "identity", SERVICES)
        self.clock_shift = 0.0
        self.certs: dict[str, CertFiles] = {}
        if self.at is not None:
            at = require_utc(self.at, "at")
            self.clock_shift = (at - datetime.now(UTC)).total_seconds()
            self.overrides = {**self.overrides, CLOCK_SHIFT_SETTING: repr(self.clock_shift)}

    def now(self) -> datetime:
        """What the stack's clock reads now: the moment its services act at."""
        return datetime.fromtimestamp(time.time() + self.clock_shift, UTC)

    def start(self) -> None:
        """Bring everything up and return once every service reports SERVING."""
        try:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            self._check_fixed_ports()
            if self.tls:
                self._issue_certificates()
            admin_url = self._start_postgres()
            nats_url = self._start_nats()
            self.database_urls = {
                name: Databases(admin_url).url(f"nobat_{name}") for name in SERVICES
            }
            self.nats_url = nats_url
            self.admin_url = admin_url
            self._start_sandbox()
            self._create_databases(admin_url)
            with ThreadPoolExecutor(len(SERVICES)) as pool:
                list(pool.map(lambda name: self._migrate(name, admin_url), SERVICES))
            for index, name in enumerate(SERVICES):
                self._start_service(name, index, admin_url)
            for handle in self.services.values():
                self.wait_serving(handle)
            self._write_manifest()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Services first (they drain their work), then NATS, then PostgreSQL."""
        for handle in self.services.values():
            if handle.process is not None and handle.process.poll() is None:
                handle.process.send_signal(signal.SIGTERM)
        for handle in self.services.values():
            if handle.process is not None:
                terminate(handle.process, [(signal.SIGTERM, 20.0)])
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def token(self, subject: str, role: str, *, to: str | None = None, ttl: float = 300.0) -> str:
        """A bearer token for calling service `to` (stack.identity.Identities.token)."""
        return self.identities.token(subject, role, to=to, ttl=ttl)

    def service_env(self, name: str, admin_url: str) -> dict[str, str]:
        env = service_environment(
            Databases(admin_url).url(f"nobat_{name}"),
            self.nats_url_as(name),
            self.identities.env(name),
        ) | {"NOBAT_LOG_LEVEL": os.environ.get("NOBAT_LOG_LEVEL", "INFO"), **self.overrides}
        if name in self.certs:
            files = self.certs[name]
            env |= dict(zip(IDENTITY_SETTINGS, map(str, files), strict=True))
        if name == "payment":
            env |= {
                "NOBAT_GATEWAY_BASE_URL": self.sandbox.url if self.sandbox else "",
                "NOBAT_GATEWAY_API_KEY": SANDBOX_API_KEY,
                "NOBAT_GATEWAY_WEBHOOK_SECRET": SANDBOX_WEBHOOK_SECRET,
                "NOBAT_WEBHOOK_PORT": str(self.webhook_port),
            }
        return env

    @property
    def client_identity(self) -> TlsIdentity | None:
        """The certificate the stack's own clients present, when TLS is on."""
        return self.certs[CLIENT_CERT].identity() if CLIENT_CERT in self.certs else None

    def channel(self, name: str) -> grpc.Channel:
        """A blocking channel to service `name`, over mutual TLS when the stack has it."""
        address = self.services[name].address
        identity = self.client_identity
        if identity is None:
            return grpc.insecure_channel(address)
        return grpc.secure_channel(address, identity.channel_credentials())

    def aio_channel(self, name: str) -> grpc.aio.Channel:
        """`channel`, for asyncio; make it on the event loop that uses it."""
        address = self.services[name].address
        identity = self.client_identity
        if identity is None:
            return grpc.aio.insecure_channel(address)
        return grpc.aio.secure_channel(address, identity.channel_credentials())

    def wait_serving(self, handle: ServiceHandle, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.channel(handle.name) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if handle.process is not None and handle.process.poll() is not None:
                    raise StackError(
                        f"{handle.name} exited with {handle.process.returncode}:\n"
                        + log_tail(handle.log_path)
                    )
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise StackError(
            f"{handle.name} not serving after {timeout}s:\n{log_tail(handle.log_path)}"
        )

    def exited(self) -> list[ServiceHandle]:
        return [
            handle
            for handle in self.services.values()
            if handle.process is not None and handle.process.poll() is not None
        ]

    def _start_postgres(self) -> str:
        external = os.environ.get("NOBAT_POSTGRES_URL")
        if external:
            return external
        self.postgres = EmbeddedPostgres(
            self.data_dir / "pg", fast=self.fast, tls=self.certs.get("postgres")
        )
        self.postgres.start()
        return self.postgres.url()

    def _start_nats(self) -> str:
        """NATS as production runs it: each service logs in as itself, with only the
        permissions runtime.wiring gives it; passwords are new each start. The stack's own
        URL (for `nobat check`) is the read-only observer's."""
        external = os.environ.get("NOBAT_NATS_URL")
        if external:
            return external
        permissions = (
            {name: nats_permissions(name) for name in SERVICES}
            | {OBSERVER: observer_permissions()}
            | self.nats_users
        )
        users = {
            name: (secrets.token_urlsafe(24), allowed) for name, allowed in permissions.items()
        }
        self.nats = EmbeddedNats(self.data_dir / "nats", users=users, tls=self.certs.get("nats"))
        self.nats.start()
        return self.nats.url_for(OBSERVER)

    def nats_url_as(self, user: str) -> str:
        """NATS with `user`'s credentials (a service's name, or OBSERVER); the one URL of
        an external NATS."""
        return self.nats.url_for(user) if self.nats is not None else self.nats_url

    def _issue_certificates(self) -> None:
        """One certificate per service, per embedded server and for the stack's clients,
        from a CA made for this start."""
        authority = LocalAuthority(self.data_dir / "tls")
        for name in (*SERVICES, "postgres", "nats", CLIENT_CERT):
            self.certs[name] = authority.issue(name)

    def _start_sandbox(self) -> None:
        """The sandbox gateway, sending its webhooks to payment's endpoint."""
        self.webhook_port = self._port(WEBHOOK_PORT_OFFSET)
        self.sandbox = SandboxGateway(
            self.logs_dir,
            self._port(SANDBOX_PORT_OFFSET),
            api_key=SANDBOX_API_KEY,
            webhook_secret=SANDBOX_WEBHOOK_SECRET,
            webhook_url=self.webhook_url,
            clock_shift=self.clock_shift,
        )
        self.sandbox.start()

    def _create_databases(self, admin_url: str) -> None:
        asyncio.run(Databases(admin_url).create_missing([f"nobat_{name}" for name in SERVICES]))

    def _migrate(self, name: str, admin_url: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", f"services.{name}", "migrate"],
            env=self.service_env(name, admin_url),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StackError(f"migrating {name} failed:\n{done.stderr[-3000:]}")

    def _start_service(self, name: str, index: int, admin_url: str, **extra_env: str) -> None:
        known = self.services.get(name)
        grpc_port = known.grpc_port if known else self._port(index)
        metrics_port = known.metrics_port if known else self._port(METRICS_PORT_OFFSET + index)
        handle = ServiceHandle(name, grpc_port, metrics_port, self.logs_dir / f"{name}.log")
        env = self.service_env(name, admin_url) | {
            "NOBAT_GRPC_PORT": str(grpc_port),
            "NOBAT_METRICS_PORT": str(metrics_port),
        }
        if self.tls:
            handle.health_port = (
                known.health_port if known else self._port(HEALTH_PORT_OFFSET + index)
            )
            env["NOBAT_HEALTH_PORT"] = str(handle.health_port)
        env |= extra_env
        if name != "payment" and "payment" in self.services:
            # The purchasing contexts call payment; it is started first.
            env["NOBAT_PAYMENT_ADDRESS"] = self.services["payment"].address
        handle.process = spawn(
            [sys.executable, "-m", f"services.{name}", "serve"],
            signal.SIGTERM,
            handle.log_path,
            cwd=ROOT,
            env=env,
        )
        self.services[name] = handle

    def restart_service(self, name: str, *, wait: bool = True, **extra_env: str) -> None:
        """Start a service again on its ports after it stopped, crashed or was killed;
        `extra_env` applies to this run only (a crash point, say)."""
        handle = self.services[name]
        if handle.process is not None and handle.process.poll() is None:
            terminate(handle.process, [(signal.SIGKILL, 5.0)])
        self._start_service(name, SERVICES.index(name), self.admin_url, **extra_env)
        if wait:
            self.wait_serving(self.services[name])

    def _check_fixed_ports(self) -> None:
        """With fixed ports, a taken one is found before anything starts, and said in one
        line naming its holder, rather than as a service's traceback halfway through."""
        if not self.base_port:
            return
        ports = {f"{name} gRPC": index for index, name in enumerate(SERVICES)}
        ports |= {
            f"{name} metrics": METRICS_PORT_OFFSET + index for index, name in enumerate(SERVICES)
        }
        ports |= {"payment webhooks": WEBHOOK_PORT_OFFSET, "sandbox gateway": SANDBOX_PORT_OFFSET}
        if self.tls:
            ports |= {
                f"{name} health": HEALTH_PORT_OFFSET + index for index, name in enumerate(SERVICES)
            }
        for what, offset in ports.items():
            # The services listen on every address, as they do in a pod.
            ensure_port_free(self.base_port + offset, what, host="0.0.0.0")

    @property
    def webhook_url(self) -> str:
        """Where the gateway's webhooks reach payment."""
        return f"http://127.0.0.1:{self.webhook_port}{WEBHOOK_PATH}"

    def _port(self, offset: int) -> int:
        return self.base_port + offset if self.base_port else free_port()

    def _write_manifest(self) -> None:
        """Where everything is, for the `nobat` CLI."""
        manifest = {
            "services": {name: h.address for name, h in self.services.items()},
            # The stand-in identity provider's key, for `nobat token`.
            "identity": str(self.identities.provider_keys_file),
            "sandbox": self.sandbox.url if self.sandbox else "",
            "webhooks": self.webhook_url,
            # For `nobat check`, which reads every database and stream.
            "databases": self.database_urls,
            "nats": self.nats_url,
        }
        (self.data_dir / "stack.json").write_text(json.dumps(manifest, indent=2))


def service_environment(
    database_url: str, nats_url: str, identity: Mapping[str, str]
) -> dict[str, str]:
    """What a service process needs to start here: this environment less any NOBAT_*
    setting of the caller's, the development settings, the import path of the source
    tree, its connections and its token settings (Identities.env)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("NOBAT_")}
    return {
        **inherited,
        **DEVELOPMENT_SETTINGS,
        **identity,
        "NOBAT_PAGE_TOKEN_SECRET": LOCAL_PAGE_TOKEN_SECRET,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen")]),
        "NOBAT_DATABASE_URL": database_url,
        "NOBAT_NATS_URL": nats_url,
    }
