"""What a payment gateway takes: its currencies and, in each, the least and most it
charges and the step its amounts go in. Each gateway adapter declares one, so payment
can refuse a payment the gateway would refuse, before asking it, in words a patient
understands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from runtime.errors import GatewayRefusesAmount
from runtime.money import Money


@dataclass(frozen=True)
class GatewayAcceptance:
    # Whose rules these are, for the patient's message ("Stripe").
    gateway: str
    # Each currency taken, with the least amount charged in it, in minor units.
    minimum_minor: Mapping[str, int]
    # The most one payment may be, in minor units, in every currency.
    maximum_minor: int
    # Currencies whose amounts must be a multiple of a step (Stripe's three-decimal ones
    # go in tens of minor units).
    step_minor: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def step(self, currency: str) -> int:
        """The step, in minor units, the gateway takes amounts of `currency` in."""
        return self.step_minor.get(currency, 1)

    def require(self, amount: Money) -> None:
        """Nothing if the gateway takes `amount`; GatewayRefusesAmount saying why if not."""
        problem = self._problem(amount)
        if problem is not None:
            raise GatewayRefusesAmount(
                problem,
                subject=f"currency:{amount.currency}",
                gateway=self.gateway,
                currency=amount.currency,
                amount_minor=amount.amount_minor,
                accepted_currencies=",".join(sorted(self.minimum_minor)),
            )

    def _problem(self, amount: Money) -> str | None:
        least = self.minimum_minor.get(amount.currency)
        if least is None:
            return (
                f"the payment gateway ({self.gateway}) does not take {amount.currency}; "
                f"it takes {', '.join(sorted(self.minimum_minor))}"
            )
        if amount.amount_minor < least:
            return (
                f"the payment gateway ({self.gateway}) takes at least "
                f"{Money(least, amount.currency)}, and {amount} is less"
            )
        if amount.amount_minor > self.maximum_minor:
            return (
                f"the payment gateway ({self.gateway}) takes at most "
                f"{Money(self.maximum_minor, amount.currency)} in one payment, and {amount} "
                "is more"
            )
        step = self.step(amount.currency)
        if amount.amount_minor % step:
            return (
                f"the payment gateway ({self.gateway}) takes {amount.currency} only in steps "
                f"of {Money(step, amount.currency)}, and {amount} is not one"
            )
        return None
