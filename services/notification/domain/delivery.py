"""A delivery: one notification sent through one channel, with its retry rules.

Deliveries are rows that a periodic job claims and sends, never work done inside the
consumer: a channel that is down costs its own deliveries their retries and nothing else.
A claim is a lease (next_attempt_at pushed past the send's time limit) rather than a lock
held across the network: if the sender's process dies mid-send, the lease runs out and the
delivery is tried again. That makes a delivery at-least-once toward the channel, which is
why each carries its own id for the receiver to drop a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from runtime.instants import require_utc
from services.notification.domain.contact import Channel

MAX_ERROR = 500


class DeliveryStatus(Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    DEAD_LETTERED = "dead_lettered"


OPEN = frozenset({DeliveryStatus.PENDING, DeliveryStatus.RETRYING})


class DeliveryFailed(Exception):
    """A channel's verdict on one send. `permanent` failures (a mailbox that does not
    exist, a webhook answering 404) are not worth retrying.

    `reason` is what the user reads in their inbox: what the receiving end answered, or a
    general reason when it could not be reached. Which host, address or port refused,
    and how, is `detail`, for the log alone: shown to the user, it would let a webhook's
    owner map whatever it points at."""

    def __init__(self, reason: str, *, permanent: bool = False, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.detail = detail or reason


@dataclass(frozen=True)
class RetryRules:
    # Tries in all, the first included, before a delivery is dead-lettered.
    max_attempts: int = 8
    first_retry: timedelta = timedelta(seconds=30)
    longest_retry: timedelta = timedelta(hours=1)
    # How long a claimed delivery is its sender's; longer than any send may take.
    lease: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.first_retry <= timedelta(0) or self.longest_retry < self.first_retry:
            raise ValueError("retries need 0 < first_retry <= longest_retry")
        if self.lease <= timedelta(0):
            raise ValueError("lease must be positive")

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed try: doubling from first_retry, capped."""
        if attempts < 1:
            raise ValueError("backoff follows a failed attempt")
        # Capped before doubling too far, so a long history cannot overflow timedelta.
        doublings = min(attempts - 1, 32)
        return min(self.first_retry * 2**doublings, self.longest_retry)


class DeliveryNotDue(Exception):
    """A claim of a delivery that is finished or not yet due: a bug in the claim query."""


@dataclass
class Delivery:
    id: str
    notification_id: str
    channel: Channel
    address: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    last_error: str = ""
    delivered_at: datetime | None = None
    # The contact's webhook signing secret, read with the claim of a webhook delivery for
    # its sender; never stored with the delivery.
    signing_secret: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        require_utc(self.created_at, "created_at")

    @classmethod
    def create(
        cls, delivery_id: str, notification_id: str, channel: Channel, address: str, now: datetime
    ) -> Delivery:
        return cls(
            delivery_id,
            notification_id,
            channel,
            address,
            DeliveryStatus.PENDING,
            0,
            next_attempt_at=now,
            created_at=now,
        )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def is_due(self, now: datetime) -> bool:
        return self.is_open and self.next_attempt_at is not None and self.next_attempt_at <= now

    def claim(self, now: datetime, rules: RetryRules) -> None:
        """Takes the next try: counted now, so a sender that dies mid-send still uses one."""
        if not self.is_due(now):
            raise DeliveryNotDue(self.id)
        self.attempts += 1
        self.next_attempt_at = now + rules.lease

    def succeeded(self, now: datetime) -> None:
        self.status = DeliveryStatus.DELIVERED
        self.delivered_at = now
        self.next_attempt_at = None
        self.last_error = ""

    def failed(self, failure: DeliveryFailed, now: datetime, rules: RetryRules) -> None:
        """Retried after the backoff, or dead-lettered once the tries are used up or the
        channel says it is no use."""
        self.last_error = failure.reason[:MAX_ERROR]
        if failure.permanent or self.attempts >= rules.max_attempts:
            self.status = DeliveryStatus.DEAD_LETTERED
            self.next_attempt_at = None
        else:
            self.status = DeliveryStatus.RETRYING
            self.next_attempt_at = now + rules.backoff(self.attempts)
