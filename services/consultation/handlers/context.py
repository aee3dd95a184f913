"""What consultation's handlers need from outside, built once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from clients.payment import PaymentClient
from purchasing.quota import DEFAULT_MAX_OPEN_CHECKOUTS
from runtime.instants import Clock, utc_now
from runtime.retention import Retention
from runtime.return_urls import ReturnUrls
from runtime.streams import Watch
from services.consultation.domain.checkout import DEFAULT_CHECKOUT_TTL
from services.consultation.domain.consultation import DEFAULT_ACCEPT_WITHIN
from services.consultation.domain.intake import DEFAULT_INTAKE_TTL
from services.consultation.domain.session import DEFAULT_SESSION_TTL
from services.consultation.domain.triage import TriagePort
from services.consultation.handlers.unit_of_work import ConsultationUnit


@dataclass(frozen=True)
class ConsultationSettings:
    intake_ttl: timedelta = DEFAULT_INTAKE_TTL
    checkout_ttl: timedelta = DEFAULT_CHECKOUT_TTL
    # How many checkouts a patient may keep waiting for payment at once.
    max_open_checkouts: int = DEFAULT_MAX_OPEN_CHECKOUTS
    # How long a paid clinical session waits for the detailed symptoms.
    session_ttl: timedelta = DEFAULT_SESSION_TTL
    # How long a consultation waits for a doctor to accept it before it is refunded.
    accept_within: timedelta = DEFAULT_ACCEPT_WITHIN
    # Where the gateway sends the browser back when the app gave no return URL (required
    # by bootstrap; a placeholder would send real patients nowhere).
    default_return_url: str = ""
    # The hosts a return URL may name (runtime.return_urls).
    return_urls: ReturnUrls = field(default_factory=ReturnUrls)
    batch: int = 100
    # A checkout is stored, or not, within this long of payment creating its intent (the
    # payment call's deadline, with room to spare); a payment event about a checkout still
    # missing after it concerns one whose transaction rolled back, and is answered so.
    unknown_checkout_after: timedelta = timedelta(seconds=60)
    # How long rows are kept past their use (runtime.purge); bootstrap's, from the runtime's.
    retention: Retention = field(default_factory=Retention)


@dataclass(frozen=True)
class Context:
    unit_of_work: Callable[[], ConsultationUnit]
    payments: PaymentClient
    triage: TriagePort
    # A chat's news (a message, the consultation's status), watched by consultation id.
    chats: Watch
    settings: ConsultationSettings = field(default_factory=ConsultationSettings)
    clock: Clock = utc_now
