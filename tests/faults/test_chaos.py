"""The short chaos run of `make test`: a minute of seeded faults under load, then every
invariant checked. `make chaos SEED=… DURATION=…` runs longer ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_a_minute_of_seeded_faults_breaks_no_invariant() -> None:
    seed = os.environ.get("NOBAT_CHAOS_SEED", "20261123")
    # Not pytest's tmp_path: as root it is mode 0700, and PostgreSQL runs as its own user.
    data_dir = Path(tempfile.mkdtemp(prefix="nobat-chaos-"))
    data_dir.chmod(0o755)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.faults.chaos",
            "--seed",
            seed,
            "--duration",
            "60",
            "--patients",
            "6",
            "--data-dir",
            str(data_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    shutil.rmtree(data_dir, ignore_errors=True)
    print(done.stdout)
    assert done.returncode == 0, f"chaos seed {seed} failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    assert "every invariant holds" in done.stdout
