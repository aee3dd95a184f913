"""Periodic jobs run on schedule and survive their own failures."""

from __future__ import annotations

from tests.integration.runtime.conftest import effect_counts
from tests.processes import eventually


async def test_a_periodic_job_keeps_running_after_a_failed_run(engine, js, probes):
    probe = probes(NOBAT_PROBE_TICKS="1")
    await probe.wait_serving()

    async def ticked_after_the_failure() -> bool:
        return (await effect_counts(engine)).get("tick", 0) >= 3

    await eventually(ticked_after_the_failure, what="three successful ticks")
    assert "the second tick fails" in probe.log()
