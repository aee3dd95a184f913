"""Each service's command line: a missing setting stops it at once, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stack.local import ROOT, SERVICES


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_missing_setting_fails_fast_with_its_name(service, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOBAT_")}
    done = subprocess.run(
        [sys.executable, "-m", f"services.{service}", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "NOBAT_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
