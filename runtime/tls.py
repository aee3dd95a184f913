"""TLS on the service's connections, from NOBAT_TLS_* settings; off when they are unset.

One identity per service pod: its certificate and key, signed by the cluster's CA, and
that CA, which must have signed every peer. With it, gRPC is mutual TLS both ways (a
caller without a certificate of the CA is refused before any RPC) and NATS is TLS with
the pod's certificate as the client's. PostgreSQL is TLS verified in full (the server's
certificate against a CA, and its name against the host) whenever a CA for it is known:
NOBAT_TLS_DATABASE_CA_FILE, else the cluster's CA. It alone turns PostgreSQL's TLS on,
for a migration Job that holds no identity of its own.

Files are read once, when the process starts: a renewed certificate takes effect at the
next start, so deployments restart the pods when their certificate's Secret changes
(deploy/README.md, "TLS"). Connections already open stay up across a renewal; a TLS
handshake checks a certificate only when a connection is opened.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from runtime.config import Env, InvalidSetting

IDENTITY_SETTINGS = ("NOBAT_TLS_CERT_FILE", "NOBAT_TLS_KEY_FILE", "NOBAT_TLS_CA_FILE")


@dataclass(frozen=True)
class TlsIdentity:
    """This service's certificate and key, and the CA its peers' certificates come from."""

    cert_file: str
    key_file: str
    ca_file: str

    def _read(self) -> tuple[bytes, bytes, bytes]:
        return (
            Path(self.cert_file).read_bytes(),
            Path(self.key_file).read_bytes(),
            Path(self.ca_file).read_bytes(),
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        """gRPC serving that answers only callers with a certificate from the CA."""
        cert, key, ca = self._read()
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """gRPC calls that present this identity and trust only servers of the CA. The
        server's certificate must name the host the caller dials (the Kubernetes
        Service's DNS name, or 127.0.0.1 on one machine)."""
        cert, key, ca = self._read()
        return grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )

    def client_context(self) -> ssl.SSLContext:
        """An ssl context for NATS: verifies the server and presents this identity."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass(frozen=True)
class TlsSettings:
    # None: gRPC and NATS in plaintext (the local stack's default).
    identity: TlsIdentity | None = None
    # The CA of PostgreSQL's server certificate; None: PostgreSQL in plaintext.
    database_ca_file: str | None = None
    # Plaintext gRPC health beside the TLS port, for kubelet's probes, which cannot
    # present a certificate. Served only when the identity is set.
    health_port: int = 50052

    @classmethod
    def from_env(cls, env: Env) -> TlsSettings:
        files = {name: env.str(name, None) for name in IDENTITY_SETTINGS}
        given = [name for name, path in files.items() if path]
        if given and len(given) < len(files):
            missing = next(name for name in files if name not in given)
            raise InvalidSetting(missing, "", f"needed with {', '.join(given)}")
        identity = TlsIdentity(*files.values()) if given else None
        return cls(
            identity=identity,
            database_ca_file=env.str(
                "NOBAT_TLS_DATABASE_CA_FILE", identity.ca_file if identity else None
            ),
            health_port=env.int("NOBAT_HEALTH_PORT", 50052),
        )

    def database_context(self) -> ssl.SSLContext | None:
        """asyncpg's `ssl`: sslmode verify-full against the database's CA, or None."""
        if self.database_ca_file is None:
            return None
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.database_ca_file)
