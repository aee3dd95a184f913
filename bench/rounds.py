"""One measured round: N fresh checkouts paid at peak or at a set pace, and what it cost.

The checkouts are opened first and are not timed. Then the round presses Pay on all of
them, waits for every reservation, for payment to hear of each fulfilment and for every
consumer (notification's too) to have taken its events, so that no round's work spills
into the next, and reads the instants back. A flow nobat loses is counted, not waited
for forever.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import say
from bench.drive import Driver, Flow
from bench.profile import CpuMeter, Profiler, Summary, spent


@dataclass
class Round:
    label: str
    flows: int
    # Pay presses a second asked for; None at peak (as fast as they go).
    offered: float | None
    # From the first press to the last reservation's commit.
    seconds: float
    rate: float
    # Milliseconds: from the webhook's arrival, and from the press, to the record.
    webhook_to_record: dict[str, float]
    pay_to_record: dict[str, float]
    # Median milliseconds of each leg: webhook → payment settled → PaymentConfirmed
    # published → reservation committed.
    legs: dict[str, float]
    # Write transactions (all databases), JetStream messages and deliveries, per flow.
    per_flow: dict[str, float]
    cpu_ms_per_flow: dict[str, float]
    # Flows without a reservation, or whose payment never heard of it, and events not yet
    # consumed, when the round gave up waiting (failures of nobat's, not of the bench).
    unrecorded: int = 0
    unfulfilled: int = 0
    unconsumed: int = 0
    profile: dict[str, Summary] = field(default_factory=dict)
    # The slowest flows' legs and when in the round their webhook came (seconds after the
    # first press): a tail that clusters in time is something periodic (a job, a checkpoint),
    # one spread over the round is queueing.
    slowest: list[dict[str, float]] = field(default_factory=list)
    # Unix seconds of the round's first press, to set `slowest` against the servers' logs.
    first_press: float = 0.0
    # The host probe's CPU microseconds from the first press to the last record: how fast
    # the machine ran meanwhile (bench/speed.py).
    host_probe_us: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def measure(
    driver: Driver,
    meter: CpuMeter,
    label: str,
    flows: int,
    rate: float | None = None,
    profiler: Profiler | None = None,
    quiet: bool = False,
) -> Round:
    if not quiet:
        pace = "as fast as they go" if rate is None else f"{rate:.1f} presses/s"
        say(f"{label}: {flows} flows, {pace}…")
    opened = await driver.checkouts(flows)
    # What opening them published (slots held, payments created) is consumed before the
    # first press: it is not the flows' work, and left to run into the round it took CPU
    # the meter counted against the flows and slowed the round's first seconds.
    await driver.drain(60 + flows * 0.2)
    await driver.checkpoint()
    # Generous (5 flows/s at peak, twice the pace's time), yet bounded: lost flows are
    # reported rather than waited for.
    timeout = 60 + flows * (0.2 if rate is None else 2 / rate)
    xid = await driver.write_transactions()
    published, delivered, _ = await driver.jetstream()
    cpu = meter.read()
    if profiler is not None:
        profiler.start()
    started, pressing = time.monotonic(), time.time()
    await driver.press(opened, rate)
    unrecorded = await driver.wait_recorded(opened, timeout)
    host = meter.host_speed(pressing, time.time())
    summaries = profiler.stop(time.monotonic() - started) if profiler is not None else {}
    unfulfilled = await driver.wait_fulfilled(opened, 30 if unrecorded else timeout)
    unconsumed = await driver.drain(30 if unrecorded else timeout)
    cpu_ms = {k: 1000 * v / flows for k, v in spent(cpu, meter.read()).items()}
    # Less the one transaction that reading the counter takes.
    transactions = await driver.write_transactions() - xid - 1
    published_after, delivered_after, _ = await driver.jetstream()
    done = [flow for flow in opened if flow.recorded is not None]
    if not done:
        raise RuntimeError(f"{label}: no flow reached its reservation in {timeout:.0f}s")
    if unrecorded:
        say(f"  {unrecorded} of {flows} flows had no reservation after {timeout:.0f}s")
    await driver.read_back(done)
    first = min(flow.pressed for flow in opened)
    seconds = max(_at(flow.recorded) for flow in done) - first
    found = Round(
        label=label,
        flows=flows,
        offered=rate,
        seconds=seconds,
        rate=len(done) / seconds,
        webhook_to_record=_spread(
            [_at(f.recorded) - _at(f.received) for f in done], (50, 95, 99, 100)
        ),
        pay_to_record=_spread([_at(f.recorded) - f.pressed for f in done], (50, 95, 99)),
        legs=_legs(done),
        per_flow={
            "write_transactions": transactions / flows,
            "jetstream_messages": (published_after - published) / flows,
            "jetstream_deliveries": (delivered_after - delivered) / flows,
        },
        cpu_ms_per_flow=cpu_ms,
        unrecorded=unrecorded,
        unfulfilled=unfulfilled,
        unconsumed=unconsumed,
        profile=summaries,
        slowest=_slowest(done, first),
        first_press=first,
        host_probe_us=host,
    )
    if not quiet:
        say(
            f"  {found.rate:.1f} flows/s, webhook→record p50 {found.webhook_to_record['p50']:.0f}"
            f" ms, p99 {found.webhook_to_record['p99']:.0f} ms"
        )
    return found


# How many of a round's slowest flows its JSON names.
SLOWEST = 10


def _at(instant: float | None) -> float:
    if instant is None:
        raise RuntimeError("a flow's instant was not found in the databases")
    return instant


def _legs(flows: list[Flow]) -> dict[str, float]:
    times = [_leg_times(f) for f in flows]
    legs = {name: [t[name] for t in times] for name in times[0]}
    return {name: _spread(values, (50,))["p50"] for name, values in legs.items()}


def _slowest(flows: list[Flow], first: float) -> list[dict[str, float]]:
    ordered = sorted(flows, key=lambda f: _at(f.recorded) - _at(f.received), reverse=True)
    return [
        {
            "at": round(_at(f.received) - first, 3),
            "webhook_to_record": round(1000 * (_at(f.recorded) - _at(f.received)), 1),
            **{name: round(1000 * leg, 1) for name, leg in _leg_times(f).items()},
        }
        for f in ordered[:SLOWEST]
    ]


def _leg_times(flow: Flow) -> dict[str, float]:
    return {
        "webhook_to_settled": _at(flow.settled) - _at(flow.received),
        "settled_to_published": _at(flow.published) - _at(flow.settled),
        "published_to_recorded": _at(flow.recorded) - _at(flow.published),
    }


def _spread(seconds: list[float], percents: tuple[int, ...]) -> dict[str, float]:
    """Percentiles in milliseconds, interpolated between the nearest ranks."""
    ordered = sorted(seconds)
    found = {}
    for percent in percents:
        rank = (len(ordered) - 1) * percent / 100
        low = int(rank)
        high = min(low + 1, len(ordered) - 1)
        value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
        found["max" if percent == 100 else f"p{percent}"] = round(1000 * value, 2)
    return found
