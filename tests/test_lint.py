"""The tree stays clean: ruff on the Python, buf lint and format on the protos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def test_python_is_ruff_clean():
    checked = run(str(BIN / "ruff"), "check", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_protos_pass_buf_lint_and_format():
    linted = run(sys.executable, "protos/lint.py")
    assert linted.returncode == 0, linted.stdout + linted.stderr
