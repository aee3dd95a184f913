"""`make bench` (`python -m bench`): nobat's throughput and latency on this machine.

1. A stack on empty databases: a warm-up, a peak round, the bare baseline, the peak
   round again under py-spy (so the profile does not disturb the measured one), and a
   round paced at a fraction of that peak.
2. A stack on a history of a million paid bookings: a warm-up, a peak round, and a round
   at the same pace as the empty one's.

Every setting has a flag and an environment variable (BENCH_FLOWS=50 make bench, or
make bench BENCH_ARGS='--flows 50'); the defaults take about ten minutes on two cores,
less once the history is built (it is kept, under the data folder, for the week).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import history, report, say
from bench.baseline import PER_FLOW, Baseline, Result
from bench.drive import Driver
from bench.profile import CpuMeter, Profiler
from bench.rounds import Round, measure
from bench.servers import Cluster, Running, cluster, running
from bench.speed import HostSpeed
from stack.local import ROOT

# (flag, type, default, meaning); each also reads BENCH_<FLAG> from the environment.
# Each setting's name, how its text is read, its default, and what it means.
SETTINGS: tuple[tuple[str, Callable[[str], object], object, str], ...] = (
    ("flows", int, 500, "flows a round"),
    ("history", int, 1_000_000, "historical payments and reservations; 0 skips that part"),
    ("load", float, 0.5, "pace of the latency rounds, as a share of the empty peak"),
    ("concurrency", int, 32, "Pay presses in flight at peak, and the baseline's flows in flight"),
    ("warmup", int, 0, "unmeasured flows on each stack first; 0: a fifth of --flows"),
    ("data_dir", Path, ROOT / ".data" / "bench", "PostgreSQL's folder, kept for the history"),
    ("results", Path, ROOT / "bench" / "results", "where <timestamp>.json goes"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    for name, kind, default, meaning in SETTINGS:
        variable = f"BENCH_{name.upper()}"
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            default=kind(os.environ.get(variable) or str(default)),
            help=f"{meaning} ({variable}, default {default})",
        )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("BENCH_PROFILE", "1") not in ("0", "no", "false"),
        help="a py-spy round on payment, booking, notification and the sandbox"
        " (BENCH_PROFILE=0 to skip)",
    )
    args = parser.parse_args(argv)
    if args.flows < 10 or args.concurrency < 1 or not 0 < args.load <= 1 or args.history < 0:
        parser.error("want --flows >= 10, --concurrency >= 1, 0 < --load <= 1, --history >= 0")
    args.warmup = args.warmup or max(10, min(100, args.flows // 5))
    return args


@dataclass
class Session:
    rounds: list[Round]
    baseline: Result | None = None


async def empty_session(
    up: Running, args: argparse.Namespace, host: HostSpeed, profiles: Path
) -> Session:
    meter = CpuMeter(up, host)
    async with Driver(up, args.concurrency) as driver:
        await _warm_up(driver, meter, args)
        peak = await measure(driver, meter, "empty, peak", args.flows)
        rounds = [peak]
        # As many further deliveries per flow as nobat was seen to make (notification's of
        # the reservation), and of them as many commits as nobat made: the rest are passed
        # over, acked without a transaction.
        side = max(0, round(peak.per_flow["jetstream_deliveries"]) - PER_FLOW["deliveries"])
        side_commits = max(0, round(peak.per_flow["write_transactions"]) - PER_FLOW["commits"])
        say(f"baseline: {args.flows} flows, {args.concurrency} in flight…")
        base = await Baseline(up, args.concurrency, side, side_commits).run(args.flows, meter)
        say(f"  {base.rate:.1f} flows/s")
        if args.profile:
            pids = {name: up.pid(name) for name in ("payment", "booking", "notification")}
            # The gateway's own work is counted in the flow's CPU too.
            sandbox = up.stack.sandbox.pid if up.stack.sandbox is not None else None
            if sandbox is not None:
                pids["sandbox"] = sandbox
            with Profiler(pids, profiles) as profiler:
                if profiler.available:
                    rounds.append(
                        await measure(
                            driver, meter, "empty, peak, py-spy", args.flows, None, profiler
                        )
                    )
                else:
                    say("py-spy not found: no profile")
        rounds.append(
            await measure(driver, meter, "empty, paced", args.flows, args.load * peak.rate)
        )
        return Session(rounds, base)


async def history_session(
    up: Running, args: argparse.Namespace, host: HostSpeed, pace: float
) -> Session:
    meter = CpuMeter(up, host)
    async with Driver(up, args.concurrency) as driver:
        await _warm_up(driver, meter, args)
        peak = await measure(driver, meter, "history, peak", args.flows)
        paced = await measure(driver, meter, "history, paced", args.flows, pace)
        return Session([peak, paced])


async def _warm_up(driver: Driver, meter: CpuMeter, args: argparse.Namespace) -> None:
    say(f"warm-up: {args.warmup} flows…")
    await driver.open_slots(args.warmup + 3 * args.flows)
    await measure(driver, meter, "warm-up", args.warmup, quiet=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.time()
    machine = report.machine()
    say(
        f"nobat bench: {args.flows} flows a round, history {args.history:,} rows, "
        f"load average {machine['load_average'][0]:.2f} on {machine['cpus']} CPUs"
    )
    runs: dict[str, Session] = {}
    history_seconds: float | None = None
    built = False
    try:
        with HostSpeed(args.data_dir / "host-speed.log") as host, cluster(args.data_dir) as pg:
            asyncio.run(pg.drop_service_databases())
            say("starting NATS, the sandbox and the four services on empty databases…")
            with running(pg, args.data_dir / "stack") as up:
                runs["empty"] = asyncio.run(
                    empty_session(up, args, host, args.data_dir / "profile")
                )
            if args.history:
                built, history_seconds = _history(pg, args.history)
                pace = args.load * runs["empty"].rounds[0].rate
                say("starting them again on the history…")
                with running(pg, args.data_dir / "stack") as up:
                    runs["history"] = asyncio.run(history_session(up, args, host, pace))
    except KeyboardInterrupt:
        raise SystemExit("interrupted; every server was stopped") from None
    result = report.assemble(args, machine, started, runs, built, history_seconds)
    path = report.write(result, args.results)
    print()
    print(report.render(result))
    print(f"\nwritten to {path}")
    print(f"service logs and py-spy's raw samples: {args.data_dir / 'stack' / 'logs'},")
    print(f"{args.data_dir / 'profile'} (until the next run)")


def _history(pg: Cluster, rows: int) -> tuple[bool, float]:
    say(f"history: {rows:,} paid bookings…")
    built, seconds = asyncio.run(history.prepare(pg, rows))
    say(f"  {f'built in {seconds:.0f} s' if built else 'reused'}; copying it in…")
    asyncio.run(history.install(pg))
    return built, seconds


if __name__ == "__main__":
    main()
