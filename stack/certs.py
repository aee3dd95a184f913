"""A throwaway certificate authority for a stack with TLS on, as cert-manager is in a cluster.

Every certificate names localhost and 127.0.0.1, where everything of the local stack
listens and is dialled, and serves for both ends of a connection (a service serves gRPC
and calls payment and NATS with the one identity). Keys are written 0600.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runtime.tls import TlsIdentity

# Long enough for any run; the authority and its certificates are made anew each start.
VALIDITY = timedelta(days=30)
LOCAL_NAMES = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path
    ca: Path

    def __iter__(self) -> Iterator[Path]:
        """cert, key, CA: the order of runtime.tls.IDENTITY_SETTINGS."""
        return iter((self.cert, self.key, self.ca))

    def identity(self) -> TlsIdentity:
        return TlsIdentity(*map(str, self))


class LocalAuthority:
    """A CA of its own under `folder`, issuing a certificate and key per name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.absolute()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nobat local CA")])
        self._name = name
        self._cert = (
            self._builder(name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = self.folder / "ca.crt"
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey):
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            # A minute's slack: a stack whose clock is moved (LocalStack.at) moves only the
            # services' reading of it, never the TLS libraries'.
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + VALIDITY)
        )

    def issue(self, name: str, owner: pwd.struct_passwd | None = None) -> CertFiles:
        """`name`.crt and `name`.key under the folder; the key owned by `owner` if given
        (PostgreSQL refuses a key another user could read, or that it does not own)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            self._builder(subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName(LOCAL_NAMES), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        files = CertFiles(self.folder / f"{name}.crt", self.folder / f"{name}.key", self.ca_file)
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        # Created 0600 before the key is in it: never readable by others, not even briefly.
        descriptor = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        if owner is not None:
            os.chown(files.key, owner.pw_uid, owner.pw_gid)
        return files
