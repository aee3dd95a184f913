"""bench.speed reads its probe's samples for a round's window only."""

from __future__ import annotations

from pathlib import Path

from bench.speed import HostSpeed


def test_a_round_reads_the_samples_of_its_own_window(tmp_path: Path) -> None:
    log = tmp_path / "host-speed.log"
    fast = [f"{100 + i / 10:.3f} 900" for i in range(10)]
    slow = [f"{101 + i / 10:.3f} {1400 + i}" for i in range(10)]
    log.write_text("\n".join([*fast, *slow, "102.5"]) + "\n")
    probe = HostSpeed(log)

    assert probe.during(100.0, 100.95)["p50"] == 900
    slower = probe.during(101.0, 102.0)
    assert slower["samples"] == 10
    assert 1400 <= slower["p50"] <= slower["p90"] <= 1409


def test_a_window_without_samples_reads_nothing(tmp_path: Path) -> None:
    log = tmp_path / "host-speed.log"
    log.write_text("100.000 900\n")
    assert HostSpeed(log).during(200.0, 201.0) == {}
