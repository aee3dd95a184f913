"""The Dockerfile, checked as far as can be done without building it.

There is no container engine here, so these tests read deploy/Dockerfile: what its
final stage holds, runs and runs as, and that the commands the manifests give it start
the real entry points, run with the image's PYTHONPATH mapped onto this checkout.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from tests.deploy.contract import ROOT, SERVICES
from tests.deploy.manifests import DEPLOY, OVERLAYS, migration, only_container, rendered, server


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]

    def last(self, instruction: str) -> str:
        found = self.all(instruction)
        assert found, f"the stage from {self.base} has no {instruction}"
        return found[-1]


@cache
def stages() -> list[Stage]:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n", " ", "\n".join(lines))
    arguments: dict[str, str] = {}
    found: list[Stage] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        instruction, _, args = line.strip().partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction == "ARG" and not found:
            name, _, default = args.partition("=")
            arguments[name] = default
        elif instruction == "FROM":
            words = args.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: arguments[m[1] or m[2]], words[0])
            found.append(Stage(base, words[2] if len(words) > 2 else None))
        else:
            found[-1].instructions.append((instruction, args))
    return found


def final() -> Stage:
    return stages()[-1]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec form (a JSON list): {args}"
    return value


def image_env() -> dict[str, str]:
    env = {}
    for args in final().all("ENV"):
        for pair in shlex.split(args):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def test_stages_share_one_slim_python_311_base() -> None:
    # The virtualenv is built in one stage and run in another: same Python, same paths.
    assert {stage.base for stage in stages()} == {final().base}
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", final().base)
    assert len(stages()) >= 2


def test_runs_as_the_non_root_user_the_manifests_expect() -> None:
    user, _, group = final().last("USER").partition(":")
    assert user.isdigit() and int(user) != 0, "a numeric uid lets runAsNonRoot check it"
    for overlay in OVERLAYS:
        docs = rendered(f"overlays/{overlay}")
        for service in SERVICES:
            for workload in (server(docs, service), migration(docs, service)):
                context = workload["spec"]["template"]["spec"]["securityContext"]
                assert context["runAsUser"] == int(user)
                assert context["runAsGroup"] == int(group or user)


def test_final_stage_installs_nothing_and_keeps_no_installer() -> None:
    runs = " ".join(final().all("RUN"))
    assert not re.search(r"\b(apt-get|apt|apk|dnf|yum)\b[^&;]*\binstall\b", runs)
    assert not re.search(r"\bpip3?\b[^&;]*\binstall\b", runs)
    assert re.search(r"\bpip\b[^&;]*\buninstall\b[^&;]*\bpip\b", runs), "pip stays in the image"
    # Only what an earlier stage built comes in: nothing straight from the build context.
    for args in final().all("COPY"):
        assert args.startswith("--from="), f"COPY {args}"


def test_generated_protos_are_built_in_an_earlier_stage() -> None:
    build_runs = " ".join(run for stage in stages()[:-1] for run in stage.all("RUN"))
    assert "protos/generate.py" in build_runs


def test_dependencies_come_from_the_hashed_lock() -> None:
    # Each pip command of the build stages, whether or not it shares a RUN with others.
    installs = [
        command
        for stage in stages()[:-1]
        for run in stage.all("RUN")
        for command in run.split("&&")
        if re.search(r"\bpip\b.*\binstall\b", command)
    ]
    copied = " ".join(args for stage in stages()[:-1] for args in stage.all("COPY"))
    assert "requirements.lock" in copied.split()
    assert any("--require-hashes -r requirements.lock" in command for command in installs)
    # Anything else installed adds no dependency the lock has not hashed.
    for command in installs:
        assert "requirements.lock" in command or "--no-deps" in command, command


def first_party_imports() -> set[str]:
    """Top-level packages of this checkout, or of gen/, that the services import."""
    local = {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()}
    local |= {path.name for path in (ROOT / "gen").glob("*/")}
    found = set()
    for folder in ("runtime", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
                elif isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
    return found & local


def image_tree(mirror: Path) -> str:
    """Lay out under `mirror` what the final stage copies from this checkout (the build
    stage works in a copy of it, generated gen/ included); returns the image's
    PYTHONPATH relocated there. The virtualenv is not copied: this one stands in."""
    build_workdir = stages()[-2].last("WORKDIR")
    final_workdir = final().last("WORKDIR")
    for args in final().all("COPY"):
        *sources, destination = [word for word in shlex.split(args) if not word.startswith("--")]
        for source in sources:
            if os.path.commonpath([source, build_workdir]) != build_workdir:
                continue
            target = mirror / os.path.join(final_workdir, destination).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(ROOT / os.path.relpath(source, build_workdir))
    entries = image_env()["PYTHONPATH"].split(":")
    return os.pathsep.join(str(mirror / entry.lstrip("/")) for entry in entries)


# Run in the image's layout: each service's entry point gives its usage, and every
# package of ours comes from the image's tree, not from this checkout's editable install.
CHECK_ENTRY_POINTS = textwrap.dedent(
    """
    import contextlib, importlib, io, runpy, sys
    mirror, packages, services = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
    for name in services:
        bootstrap = importlib.import_module(f"services.{name}.bootstrap")
        assert callable(bootstrap.main), f"services.{name}.bootstrap.main is not callable"
        usage = io.StringIO()
        sys.argv = [f"services.{name}", "--help"]
        with contextlib.redirect_stdout(usage), contextlib.suppress(SystemExit):
            runpy.run_module(f"services.{name}", run_name="__main__")
        assert "serve" in usage.getvalue() and "migrate" in usage.getvalue(), usage.getvalue()
    for package in packages:
        where = list(sys.modules[package].__path__)[0]
        assert where.startswith(mirror), f"{package} is not in the image (found {where})"
    """
)


def test_the_commands_start_the_real_entry_points(tmp_path: Path) -> None:
    entrypoint = exec_form(final().last("ENTRYPOINT"))
    assert entrypoint == ["python", "-m"]
    # Without arguments the image prints a service's usage, so CMD must name one too.
    default = exec_form(final().last("CMD"))
    assert default[0] in {f"services.{service}" for service in SERVICES}
    for overlay in OVERLAYS:
        docs = rendered(f"overlays/{overlay}")
        for service in SERVICES:
            for workload, command in [
                (server(docs, service), "serve"),
                (migration(docs, service), "migrate"),
            ]:
                argv = entrypoint + only_container(workload)["args"]
                assert argv == ["python", "-m", f"services.{service}", command]

    if not (ROOT / "gen" / "nobat").is_dir():
        pytest.fail("gen/ is missing: generate the protos first (python protos/generate.py)")
    packages = " ".join(sorted(first_party_imports()))
    done = subprocess.run(
        [sys.executable, "-c", CHECK_ENTRY_POINTS, str(tmp_path), packages, *SERVICES],
        env={**os.environ, "PYTHONPATH": image_tree(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_build_context_leaves_out_local_state() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for entry in (".git", ".venv", ".data", "gen"):
        assert entry in ignored, f"{entry} would be sent to the builder"
