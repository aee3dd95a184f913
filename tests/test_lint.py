"""The tree stays clean: ruff and mypy on the Python, buf lint and format on the protos."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def test_python_is_ruff_clean():
    checked = run(str(BIN / "ruff"), "check", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_nobats_own_code_type_checks():
    """mypy on what pyproject.toml's [tool.mypy] names, against nobat-api's .pyi."""
    checked = run(sys.executable, "-m", "mypy")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_protos_pass_buf_lint_and_format():
    linted = run(sys.executable, "protos/lint.py")
    assert linted.returncode == 0, linted.stdout + linted.stderr


# protos/lint.py is a script that imports generate.py by bare name, as when run from there.
sys.path.insert(0, str(ROOT / "protos"))
lint = importlib.import_module("lint")


def test_protos_keep_wire_compatibility_with_the_last_release():
    """buf breaking against the newest annotated protos/v* tag (protos/CHANGELOG.md)."""
    release = lint.last_release()
    if release is None:
        pytest.skip(
            "no annotated protos/v* release tag is reachable from HEAD (a shallow clone, or "
            "none tagged yet): nothing to check wire compatibility against"
        )
    checked = run(sys.executable, "protos/lint.py", "breaking", release)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_buf_breaking_finds_a_field_renumbered(tmp_path: Path):
    """The check above can fail: a field given a new number breaks every stored event."""
    changed = tmp_path / "changed"
    shutil.copytree(ROOT / "protos" / "nobat", changed / "nobat")
    money = changed / "nobat" / "common" / "v1" / "money.proto"
    text = money.read_text()
    assert "int64 amount_minor = 1;" in text
    money.write_text(text.replace("int64 amount_minor = 1;", "int64 amount_minor = 9;"))
    found = lint.breaking(changed, ROOT / "protos", tmp_path)
    assert found.returncode != 0
    assert "amount_minor" in found.stdout + found.stderr


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_the_last_release_is_the_newest_annotated_protos_tag_behind_head(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    identity = ["-c", "user.name=nobat", "-c", "user.email=nobat@example.com"]
    assert lint.last_release(repo) is None

    def release(tag: str, annotated: bool = True) -> None:
        git(repo, *identity, "commit", "-q", "--allow-empty", "-m", f"before {tag}")
        git(repo, *identity, "tag", *(["-a", "-m", tag] if annotated else []), tag)

    release("protos/v1.0.0")
    release("protos/v1.1.0")
    # A lightweight tag is not a release, nor is a tag of something else.
    release("protos/v2.0.0", annotated=False)
    release("v9.9.9")
    assert lint.last_release(repo) == "protos/v1.1.0"
