"""The lock files install what pyproject.toml pins, with hashes, on any current Python.

`make` installs requirements-dev.lock and the image requirements.lock, both with
--require-hashes; pyproject.toml says which versions nobat wants. When the two disagree
the install quietly follows the lock, so these fail until `make lock` is run.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = {
    # lock file: the pyproject.toml requirements it must hold
    "requirements.lock": PYPROJECT["project"]["dependencies"],
    "requirements-dev.lock": [
        *PYPROJECT["project"]["dependencies"],
        *PYPROJECT["project"]["optional-dependencies"]["dev"],
    ],
}
# A requirement line, "name==version \" or with environment markers; its hashes follow.
PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)")


def locked(name: str) -> dict[str, str]:
    """Distribution name -> version for every entry of a lock file; each must carry a
    hash, or pip's --require-hashes refuses the whole file."""
    text = (ROOT / name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[-1])
    versions = {}
    for entry in entries:
        match = PINNED.match(entry)
        if match is None:
            continue
        assert "--hash=sha256:" in entry, f"{name}: {match[1]} has no hash"
        versions[canonicalize_name(match[1])] = match[2]
    return versions


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pinned_dependency_is_locked_at_its_version(lock: str) -> None:
    versions = locked(lock)
    stale = []
    for line in LOCKS[lock]:
        requirement = Requirement(line)
        (pin,) = requirement.specifier  # pyproject pins each one: name==version
        name = canonicalize_name(requirement.name)
        if versions.get(name) != pin.version:
            stale.append(f"{requirement.name}: pyproject {pin.version}, lock {versions.get(name)}")
    assert not stale, f"{lock} is out of date (run `make lock`): {stale}"


def test_the_image_runs_the_versions_developers_test() -> None:
    runtime, dev = locked("requirements.lock"), locked("requirements-dev.lock")
    differing = {name: (version, dev.get(name)) for name, version in runtime.items()}
    assert {name: pair for name, pair in differing.items() if pair[0] != pair[1]} == {}


def test_installs_on_every_python_from_311_on() -> None:
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    # Compiled with --universal: one file for every interpreter and platform, so markers
    # (python_version, sys_platform) decide per install rather than the machine that locked.
    assert "--universal" in (ROOT / "Makefile").read_text()


def test_nobat_api_accepts_the_versions_nobat_runs() -> None:
    """nobat-api (protos/python) states ranges for its users; nobat itself installs it
    without its dependencies, from the lock, so the lock must satisfy them."""
    api = tomllib.loads((ROOT / "protos" / "python" / "pyproject.toml").read_text())
    versions = locked("requirements.lock")
    for line in api["project"]["dependencies"]:
        requirement = Requirement(line)
        version = versions.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(version), f"{requirement} refuses {version}"
