"""The channels' adapters behind the Sender port: the log sink, SMTP and signed webhooks.

Each says whether a failure is worth retrying: a server that is down or busy (SMTP 4xx, a
dropped connection, HTTP 5xx, 408 or 429) is; a server that refuses for good (SMTP 5xx
for the mailbox, HTTP 4xx) is not, and the delivery is dead-lettered at once. What the
receiving end answered is the user's to read; why it could not be reached (which host,
which address, refused or timed out) goes to the log only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from email.message import EmailMessage

import aiohttp
import aiosmtplib
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.notification.domain.contact import masked
from services.notification.domain.delivery import Delivery, DeliveryFailed
from services.notification.domain.notification import Notification
from services.notification.domain.webhooks import refusal, webhook_problem

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Nobat-Signature"
DELIVERY_HEADER = "Nobat-Delivery-Id"
# What a user reads of a send that never reached the receiving end; the log has the rest.
UNREACHABLE = "the receiving server could not be reached"
NOT_ALLOWED = "the webhook's address is not allowed; register a public https URL"


class LogSender:
    """The default for every channel: notes in the service's log that a message went out,
    so a development setup delivers everything without a mail server or a phone gateway.

    Not what it says: a body tells who sees which doctor when, for how much and how
    urgently, and logs are kept longer and read by more people than an inbox. The text is
    in the recipient's inbox (ListNotifications, `nobat inbox`); the log has its kind,
    its length and a masked address."""

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        log.info(
            "notification %s (%s, %d characters, text not logged) to %s by %s (%s)",
            notification.id,
            notification.kind.value,
            len(notification.title) + len(notification.body),
            notification.user_id,
            delivery.channel.value,
            masked(delivery.address),
            extra={"delivery_id": delivery.id, "sink": "log"},
        )


class SmtpSender:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        # None: STARTTLS when the server offers it.
        self._start_tls = start_tls
        self._timeout = timeout

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = delivery.address
        message["Subject"] = notification.title
        # The delivery's id, so a mailbox that gets a retried message twice can tell.
        message["Message-ID"] = f"<{delivery.id}@nobat>"
        message["Content-Language"] = notification.locale.value
        message.set_content(notification.body)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._start_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [recipient.code for recipient in refused.recipients]
            reason = "; ".join(f"{r.code} {r.message}" for r in refused.recipients)
            raise DeliveryFailed(
                f"SMTP refused the recipient: {reason}", permanent=all(c >= 500 for c in codes)
            ) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the recipient: worth retrying once they are fixed.
            raise DeliveryFailed(f"SMTP login failed: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"SMTP answered {exc.code} {exc.message}", permanent=exc.code >= 500
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(UNREACHABLE, detail=f"SMTP server unreachable: {exc}") from None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Nobat-Signature header: the gateway's scheme (HMAC-SHA256 over "{t}.{body}"),
    so a receiver checks the body and refuses replays older than its tolerance."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class DestinationRefused(OSError):
    """A webhook's name resolved to an address inside the network."""


class PublicResolver(AbstractResolver):
    """Resolves a webhook's host once and hands the connector only public addresses, so
    the connection goes to the address checked here, never to a second lookup's answer: a
    name that resolves inside now, whatever it resolved to when it was registered, is
    refused. IP literals never reach a resolver; WebhookSender checks those itself."""

    def __init__(self, inner: AbstractResolver, *, development: bool = False) -> None:
        self._inner = inner
        self._development = development

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # Looked up as an absolute name: a cluster's search domains would otherwise turn
        # "payment.nobat" into one of its own services.
        absolute = f"{host.rstrip('.')}." if "." in host else host
        found = await self._inner.resolve(absolute, port, family)
        for result in found:
            why = refusal(ipaddress.ip_address(result["host"]), development=self._development)
            if why:
                raise DestinationRefused(f"{host} resolved to {result['host']}, which {why}")
        return found

    async def close(self) -> None:
        await self._inner.close()


class WebhookSender:
    """POSTs each notification as JSON to the user's https URL, signed with the contact's
    own secret, carrying the delivery id so a receiver can drop a retried copy. It goes
    only to public addresses (domain/webhooks.py): the URL is judged again before each
    send, as it may have been stored before today's rules, and every address its name
    resolves to by PublicResolver."""

    def __init__(
        self,
        timeout: float = 10.0,
        *,
        development: bool = False,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._development = development
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        problem = webhook_problem(delivery.address, development=self._development)
        if problem:
            raise DeliveryFailed(NOT_ALLOWED, permanent=True, detail=f"webhook {problem}")
        if not delivery.signing_secret:
            raise DeliveryFailed(
                "the webhook has no signing secret; register the contact again", permanent=True
            )
        body = json.dumps(
            {
                "id": notification.id,
                "delivery_id": delivery.id,
                "user_id": notification.user_id,
                "sequence": notification.sequence,
                "kind": notification.kind.value,
                "locale": notification.locale.value,
                "title": notification.title,
                "body": notification.body,
                "subject_id": notification.subject_id,
                "created_at": notification.created_at.isoformat(),
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: signature(delivery.signing_secret, int(time.time()), body),
            DELIVERY_HEADER: delivery.id,
        }
        try:
            async with self._open().post(
                delivery.address, data=body, headers=headers, allow_redirects=False
            ) as answer:
                if 200 <= answer.status < 300:
                    return
                retryable = answer.status >= 500 or answer.status in (408, 429)
                raise DeliveryFailed(f"webhook answered {answer.status}", permanent=not retryable)
        except (aiohttp.ClientError, OSError) as exc:
            # A name resolved inside reads to its user like any server that is down, and is
            # retried like one: they learn nothing of what the name means inside.
            refused = isinstance(getattr(exc, "os_error", None), DestinationRefused)
            detail = f"webhook {'refused' if refused else 'unreachable'}: {exc!r}"
            raise DeliveryFailed(UNREACHABLE, detail=detail) from None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver = PublicResolver(
                self._resolver or DefaultResolver(), development=self._development
            )
            # Proxy settings from the environment stay unread (trust_env is off): a proxy
            # would make the lookup, and reach addresses this sender never saw.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(resolver=resolver),
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
