"""The bench's findings: the figures the issue asks for, the targets, and the JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stack.local import ROOT

TARGETS = {"ratio_to_baseline": 0.5, "paced_p99_ms": 50.0, "history_slowdown": 0.10}


def machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain")),
    }


def assemble(
    args: argparse.Namespace,
    machine: dict[str, Any],
    started: float,
    runs: dict[str, Any],
    built: bool,
    history_seconds: float | None,
) -> dict[str, Any]:
    rounds = {r.label: r for session in runs.values() for r in session.rounds}
    base = runs["empty"].baseline
    peak, paced = rounds["empty, peak"], rounds["empty, paced"]
    figures: dict[str, Any] = {
        "peak_flows_per_second": peak.rate,
        "baseline_flows_per_second": base.rate,
        "ratio_to_baseline": peak.rate / base.rate,
        "paced_presses_per_second": paced.offered,
        "paced_webhook_to_record_ms": paced.webhook_to_record,
    }
    targets = [
        _target("rate / baseline", figures["ratio_to_baseline"], ">=", 0.5),
        _target("webhook→record p99 at half peak, ms", paced.webhook_to_record["p99"], "<", 50),
    ]
    if "history" in runs:
        hist_peak, hist_paced = rounds["history, peak"], rounds["history, paced"]
        figures |= {
            "history_rows": args.history,
            "history_peak_flows_per_second": hist_peak.rate,
            "history_ratio_to_empty": hist_peak.rate / peak.rate,
            "history_ratio_to_baseline": hist_peak.rate / base.rate,
            "history_paced_webhook_to_record_ms": hist_paced.webhook_to_record,
            "history_paced_ratio_to_empty": {
                key: hist_paced.webhook_to_record[key] / paced.webhook_to_record[key]
                for key in ("p50", "p95", "p99")
            },
        }
        targets.append(
            _target("peak rate with history / empty", figures["history_ratio_to_empty"], ">=", 0.9)
        )
    machine = machine | {"load_average_at_end": os.getloadavg()}
    return {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "config": {
            key: getattr(args, key)
            for key in ("flows", "history", "load", "concurrency", "warmup", "profile")
        },
        "definitions": {
            "flow": "one checkout, from the press of Pay on the sandbox's page to the commit"
            " of its reservation in booking's database",
            "rate": "flows / seconds from the first press to the last reservation's commit",
            "webhook_to_record": "webhook_events.received_at (the start of the transaction"
            " that stores the webhook once its body is read and its signature checked; time"
            " spent waiting for a database connection before it is not counted) to the"
            " commit of the reservation (pg_xact_commit_timestamp), both on PostgreSQL's"
            " clock",
            "pay_to_record": "the bench's press of Pay on the sandbox to the same commit:"
            " an upper bound, with the sandbox's own work and webhook delivery in it",
            "host_probe_us": "a probe process's CPU microseconds for a fixed piece of Python"
            " work, sampled every 100 ms from a round's first press to its last record: the"
            " shared host's speed meanwhile, lower is faster (bench/speed.py)",
            "baseline": "per flow the commits, publishes, fetches and acks of nobat's path,"
            " from one process with asyncpg and nats-py, nothing in between (bench/baseline.py)",
        },
        "machine": machine,
        "figures": figures,
        "targets": targets,
        "baseline": asdict(base),
        "history": {"rows": args.history, "built_now": built, "build_seconds": history_seconds},
        "rounds": [r.as_json() for r in rounds.values()],
    }


def _target(what: str, value: float, sense: str, bound: float) -> dict[str, Any]:
    met = value >= bound if sense == ">=" else value < bound
    return {"what": what, "value": round(value, 3), "target": f"{sense} {bound}", "met": met}


def write(result: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"nobat bench {result['started_at']} ({result['seconds']:.0f} s),"
        f" {result['config']['flows']} flows a round, {m['cpus']} CPUs,"
        f" load average {m['load_average'][0]:.2f} at start, {m['load_average_at_end'][0]:.2f}"
        " at end",
        "",
        f"{'':30}{'flows/s':>9}   webhook→record ms p50 / p95 / p99   pay→record p50"
        "   host µs p50 / p90",
        f"{'baseline (PostgreSQL + JetStream)':30}{result['baseline']['rate']:>9.1f}"
        f"{'':50}{_host(result['baseline'].get('host_probe_us', {}))}",
    ]
    for r in result["rounds"]:
        label = r["label"] + (f" at {r['offered']:.1f}/s" if r["offered"] else "")
        w = r["webhook_to_record"]
        lost = r["unrecorded"] or r["unfulfilled"] or r["unconsumed"]
        lines.append(
            f"{label:30}{r['rate']:>9.1f}   {w['p50']:>8.1f} / {w['p95']:>7.1f} / {w['p99']:>7.1f}"
            f"   {r['pay_to_record']['p50']:>10.1f}{_host(r.get('host_probe_us', {}))}"
            + (
                f"   gave up on {r['unrecorded']} reservations, {r['unfulfilled']} fulfilments,"
                f" {r['unconsumed']} events"
                if lost
                else ""
            )
        )
    lines += ["", "targets"]
    for t in result["targets"]:
        verdict = "met" if t["met"] else "NOT MET"
        lines.append(f"  {t['what']:40} {t['value']:>9}  (target {t['target']})  {verdict}")
    f = result["figures"]
    if "history_rows" in f:
        lines.append(
            f"  with {f['history_rows']:,} rows of history, against empty: peak rate"
            f" {f['history_ratio_to_empty']:.2f}x; webhook→record at half peak "
            + ", ".join(f"{k} {v:.2f}x" for k, v in f["history_paced_ratio_to_empty"].items())
        )
    lines += _costs(result)
    lines += _profiles(result)
    return "\n".join(lines)


def _host(probe: dict[str, float]) -> str:
    """The host probe's CPU time for its fixed work during a round (bench/speed.py)."""
    return f"   {probe['p50']:>10.0f} / {probe['p90']:>4.0f}" if probe else ""


def _costs(result: dict[str, Any]) -> list[str]:
    rounds = {r["label"]: r for r in result["rounds"]}
    peak, paced = rounds["empty, peak"], rounds["empty, paced"]
    base = result["baseline"]
    lines = [
        "",
        "per flow at peak               nobat   baseline",
        f"  write transactions       {peak['per_flow']['write_transactions']:>9.2f}"
        f"  {base['write_transactions_per_flow']:>9.2f}"
        f"  (plan: {base['plan']['commits']} commits and the relays' marks)",
        f"  JetStream messages       {peak['per_flow']['jetstream_messages']:>9.2f}"
        f"  {base['plan']['publishes']:>9}",
        f"  JetStream deliveries     {peak['per_flow']['jetstream_deliveries']:>9.2f}"
        f"  {base['plan']['deliveries']:>9}",
        "  CPU ms, nobat:    " + _cpu(peak["cpu_ms_per_flow"]),
        "  CPU ms, baseline: "
        + _cpu({k: 1000 * v / base["flows"] for k, v in base["cpu_seconds"].items()}),
        "",
        "median legs at half peak, ms: "
        + ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in paced["legs"].items()),
    ]
    return lines


def _cpu(ms: dict[str, float]) -> str:
    busy = sorted(((v, k) for k, v in ms.items() if v >= 0.05), reverse=True)
    total = sum(ms.values())
    return ", ".join(f"{k} {v:.1f}" for v, k in busy) + f" (total {total:.1f})"


def _profiles(result: dict[str, Any]) -> list[str]:
    lines = []
    for r in result["rounds"]:
        for service, p in r["profile"].items():
            busy = p["samples"] / (p["rate"] * p["seconds"]) if p["seconds"] else 0
            lines += [
                "",
                f"where {service}'s time goes ({r['label']}: {p['samples']} samples in"
                f" {p['seconds']:.1f} s; its event loop busy {busy:.0%} of the time)",
                "  own time by package: "
                + ", ".join(f"{name} {share:.0%}" for name, share in p["packages"]),
                "  own time:",
                *(f"  {share:>6.1%}  {frame}" for frame, share in p["own"]),
                "  nobat's frames, including what they call:",
                *(f"  {share:>6.1%}  {frame}" for frame, share in p["inclusive"]),
                "  hottest paths through nobat's code (own time below the last frame):",
                *(f"  {share:>6.1%}  {path}" for path, share in p["paths"]),
            ]
    return lines
