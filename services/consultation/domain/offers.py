"""Consultation types, their prices, and the offers an intake gets.

Admins set prices per type: the platform defaults, and optionally a doctor's own. An
intake is offered, at the default prices, the types its triage allows and the defaults
price; a type priced nowhere is not sold. A doctor's own price for a type replaces the
default when the patient chooses that doctor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from runtime.errors import InvalidArgument
from runtime.money import Money, parse_amount
from services.consultation.domain.errors import UnknownConsultationType


class ConsultationType(Enum):
    CHAT = "chat"
    VIDEO = "video"
    # Online and answered first; never a substitute for emergency care in person.
    EMERGENCY = "emergency"

    @classmethod
    def named(cls, value: str, field: str = "type") -> ConsultationType:
        try:
            return cls(value)
        except ValueError:
            raise UnknownConsultationType(value, field) from None


@dataclass(frozen=True)
class Offer:
    type: ConsultationType
    price: Money


@dataclass(frozen=True)
class PriceList:
    """At most one price per type; a type left out is not priced by this list."""

    prices: Mapping[ConsultationType, Money] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))

    def __deepcopy__(self, memo: dict) -> PriceList:
        # Nothing in it can change, so a copy may be itself (a read-only mapping cannot be
        # deep-copied, and a doctor copied with their prices would fail).
        return self

    def get(self, consultation_type: ConsultationType) -> Money | None:
        return self.prices.get(consultation_type)

    def offers(self, types: Iterable[ConsultationType]) -> tuple[Offer, ...]:
        """The priced ones of `types`, in the order of ConsultationType."""
        wanted = set(types)
        return tuple(
            Offer(kind, self.prices[kind])
            for kind in ConsultationType
            if kind in wanted and kind in self.prices
        )


def price_list(entries: Sequence[tuple[str, int, str]], field: str = "prices") -> PriceList:
    """A price list from SetConsultationPrices' entries: (type, amount in minor units,
    currency). Every bad entry is reported at once, by its field."""
    violations: list[tuple[str, str]] = []
    prices: dict[ConsultationType, Money] = {}
    for index, (type_name, amount, currency) in enumerate(entries):
        at = f"{field}[{index}]"
        try:
            kind = ConsultationType.named(type_name, f"{at}.type")
        except InvalidArgument as error:
            violations += error.violations
            kind = None
        if kind in prices:
            violations.append((f"{at}.type", f"{kind.value} is priced twice"))
        try:
            price = parse_amount(amount, currency, f"{at}.price")
        except InvalidArgument as error:
            violations += error.violations
            price = None
        if kind is not None and price is not None:
            prices.setdefault(kind, price)
    if violations:
        raise InvalidArgument.many(violations)
    return PriceList(prices)
