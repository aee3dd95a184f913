"""How much of a cancelled reservation goes back to the patient.

A patient's own cancellation is refunded by how much notice they gave (by default all of
it at 24 h or more before the slot, half at 2 h or more, nothing later); a cancellation
by the doctor or an admin is never the patient's doing, so it is always refunded in full.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from runtime.money import Money

_TIER = re.compile(r"\s*(\d+)\s*([hm])\s*:\s*(\d+)\s*%?\s*")


class CancelledBy(Enum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    ADMIN = "admin"
    # Payment gave the money back on its own (an early fraud warning): refunded in full by
    # payment, not by booking's asking.
    PAYMENT = "payment"


@dataclass(frozen=True)
class RefundTier:
    """Cancelling at least `min_notice` before the slot refunds `percent` of the price."""

    min_notice: timedelta
    percent: int


@dataclass(frozen=True)
class NoticePolicy:
    """Refund tiers; the most generous tier the notice reaches applies, none refunds nothing."""

    tiers: tuple[RefundTier, ...]

    def __post_init__(self) -> None:
        tiers = tuple(sorted(self.tiers, key=lambda tier: tier.min_notice, reverse=True))
        for tier in tiers:
            if tier.min_notice < timedelta(0) or not 0 <= tier.percent <= 100:
                raise ValueError(f"{tier}: notice must not be negative, percent 0 to 100")
        for longer, shorter in itertools.pairwise(tiers):
            if longer.min_notice == shorter.min_notice or longer.percent < shorter.percent:
                raise ValueError(
                    "each refund tier needs its own notice, and more notice never refunds less"
                )
        object.__setattr__(self, "tiers", tiers)

    @classmethod
    def parse(cls, text: str) -> NoticePolicy:
        """From configuration like "24h:100,2h:50" (hours or minutes of notice: percent)."""
        tiers = []
        for part in filter(None, (part.strip() for part in text.split(","))):
            match = _TIER.fullmatch(part)
            if match is None:
                raise ValueError(f"refund tier {part!r} is not like 24h:100 or 90m:50")
            amount, unit, percent = match.groups()
            notice = timedelta(hours=int(amount)) if unit == "h" else timedelta(minutes=int(amount))
            tiers.append(RefundTier(notice, int(percent)))
        return cls(tuple(tiers))

    def refund(self, price: Money, notice: timedelta) -> Money:
        for tier in self.tiers:
            if notice >= tier.min_notice:
                return price.percent(tier.percent)
        return Money.zero(price.currency)


DEFAULT_NOTICE_POLICY = NoticePolicy(
    (RefundTier(timedelta(hours=24), 100), RefundTier(timedelta(hours=2), 50))
)


def refund_due(
    price: Money, cancelled_by: CancelledBy, notice: timedelta, policy: NoticePolicy
) -> Money:
    """What goes back to the patient for a cancellation `notice` before the slot starts."""
    if cancelled_by is CancelledBy.PATIENT:
        return policy.refund(price, notice)
    return price
