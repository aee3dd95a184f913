"""Housekeeping runs on a schedule of its own, every few minutes by default, whatever the
interval of a service's other jobs: it deletes rows kept for days, and a run every few
seconds would only be statements for nothing."""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest

from runtime.config import Env, InvalidSetting
from runtime.db import UnitOfWork
from runtime.retention import Retention
from runtime.service import ServiceProcess
from runtime.settings import RuntimeSettings
from runtime.wiring import WIRING

SERVICES = ("booking", "consultation", "payment", "notification")


def test_housekeeping_runs_every_five_minutes_unless_set():
    assert Retention.from_env(Env({}), 120).every == 300
    settings = Env({"NOBAT_PURGE_INTERVAL_SECONDS": "3600"})
    assert Retention.from_env(settings, 120).every == 3600


def test_an_interval_that_is_not_a_positive_number_is_refused_by_name():
    with pytest.raises(InvalidSetting, match="NOBAT_PURGE_INTERVAL_SECONDS"):
        Retention.from_env(Env({"NOBAT_PURGE_INTERVAL_SECONDS": "0"}), 120)


@pytest.mark.parametrize("service", SERVICES)
def test_every_process_schedules_housekeeping_at_its_own_interval(service: str, tmp_path):
    # A process believing no issuer: it is only built here, never served.
    issuers = tmp_path / "issuers.json"
    issuers.write_text('{"issuers": []}')
    env = Env(
        {
            "NOBAT_DATABASE_URL": "postgresql+asyncpg://nobat@db/nobat",
            "NOBAT_NATS_URL": "nats://nats:4222",
            "NOBAT_TOKEN_ISSUERS_FILE": str(issuers),
            "NOBAT_PAGE_TOKEN_SECRET": "a page token secret of 32 chars+",
        }
    )
    settings = RuntimeSettings.from_env(env)
    settings = replace(settings, retention=replace(settings.retention, every=1234.0))
    process = ServiceProcess(service, settings, wiring=WIRING[service], unit=UnitOfWork)
    scheduled = {name: seconds for name, seconds, _ in process._jobs}
    assert scheduled == {"purge": 1234.0}
    # Not also among the service's own jobs, which run every few seconds.
    jobs = importlib.import_module(f"services.{service}.handlers").JOBS
    assert "purge" not in jobs
