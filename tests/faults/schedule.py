"""The faults of one chaos run, drawn from its seed before the run starts.

The schedule depends on the seed and the duration only, so the same seed replays the
same faults at the same moments against the same targets; the workload around them
(patients booking, paying, consulting) is as concurrent as real traffic and is not
part of the replay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Every kind of fault, with how often it is drawn relative to the others.
KINDS = {
    "kill_service": 3,
    "crash_point": 3,
    "kill_nats": 1,
    "pause_postgres": 1,
    "notification_down": 1,
    "gateway_duplicates": 2,
    "gateway_reverse": 1,
    "gateway_delay": 1,
    "gateway_drop": 2,
    "gateway_bad_signature": 1,
    "gateway_lose_response": 2,
    "forged_webhook": 1,
    "slot_race": 1,
}
# Services whose crash anywhere must not break a promise (notification has its own kind).
CORE_SERVICES = ("payment", "booking", "consultation")
CRASH_POINTS = (
    "relay.before_publish",
    "relay.after_publish",
    "consumer.before_commit",
    "consumer.after_commit",
)


@dataclass(frozen=True)
class Fault:
    # Seconds after the workload starts.
    at: float
    kind: str
    # A service, a crash point "service:point", or "" when the kind has none.
    target: str
    # How long the fault lasts, where it lasts (an outage, a switch left on).
    seconds: float

    def __str__(self) -> str:
        where = f" {self.target}" if self.target else ""
        return f"{self.at:6.1f}s {self.kind}{where} for {self.seconds:.1f}s"


def schedule(seed: int, duration: float, every: float = 6.0) -> list[Fault]:
    """About one fault per `every` seconds, spread over the run's first 80% so the
    system has time to recover while traffic still flows."""
    rng = random.Random(seed)
    kinds, weights = zip(*KINDS.items(), strict=True)
    faults = []
    at = rng.uniform(2.0, every)
    while at < duration * 0.8:
        kind = rng.choices(kinds, weights)[0]
        faults.append(Fault(round(at, 2), kind, _target(rng, kind), round(rng.uniform(1, 4), 2)))
        at += rng.uniform(every / 2, every * 1.5)
    return faults


def _target(rng: random.Random, kind: str) -> str:
    if kind == "kill_service":
        return rng.choice(CORE_SERVICES)
    if kind == "crash_point":
        return f"{rng.choice(CORE_SERVICES)}:{rng.choice(CRASH_POINTS)}"
    return ""
