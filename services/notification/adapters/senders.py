"""The channels' adapters behind the Sender port: the log sink, SMTP and signed webhooks.

Each says whether a failure is worth retrying: a server that is down or busy (SMTP 4xx, a
dropped connection, HTTP 5xx, 408 or 429) is; a server that refuses for good (SMTP 5xx
for the mailbox, HTTP 4xx) is not, and the delivery is dead-lettered at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from email.message import EmailMessage

import aiohttp
import aiosmtplib

from services.notification.domain.delivery import Delivery, DeliveryFailed
from services.notification.domain.notification import Notification

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Nobat-Signature"
DELIVERY_HEADER = "Nobat-Delivery-Id"


def masked(address: str) -> str:
    """Enough of an address to tell deliveries apart in a log, not enough to use it."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"{address[:4]}***{address[-2:]}" if len(address) > 8 else "***"


class LogSender:
    """The default for every channel: writes what would be sent to the service's log. A
    development setup delivers everything without a mail server or a phone gateway."""

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        log.info(
            "notification %s to %s by %s (%s): %s | %s",
            notification.id,
            notification.user_id,
            delivery.channel.value,
            masked(delivery.address),
            notification.title,
            notification.body,
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
            raise DeliveryFailed(f"SMTP server unreachable: {exc}") from None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Nobat-Signature header: the gateway's scheme (HMAC-SHA256 over "{t}.{body}"),
    so a receiver checks the body and refuses replays older than its tolerance."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class WebhookSender:
    """POSTs each notification as JSON to the user's https URL, signed with the shared
    secret, carrying the delivery id so a receiver can drop a retried copy."""

    def __init__(self, secret: str, timeout: float = 10.0) -> None:
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
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
            SIGNATURE_HEADER: signature(self._secret, int(time.time()), body),
            DELIVERY_HEADER: delivery.id,
        }
        try:
            async with self._session.post(
                delivery.address, data=body, headers=headers, allow_redirects=False
            ) as answer:
                if 200 <= answer.status < 300:
                    return
                retryable = answer.status >= 500 or answer.status in (408, 429)
                raise DeliveryFailed(f"webhook answered {answer.status}", permanent=not retryable)
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryFailed(f"webhook unreachable: {exc!r}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
