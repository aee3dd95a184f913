"""The `nobat check` Job (deploy/jobs): it starts the CLI the image carries, with every
address the CLI reads, from Secrets operators are told to create."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from cli.target import NATS_VARIABLE, database_variable
from tests.deploy.contract import SERVICES
from tests.deploy.manifests import container_env, named, only_container, rendered
from tests.deploy.test_image import exec_form, final, image_tree
from tests.deploy.test_secrets import documented_secrets


def check_job() -> dict:
    return named(rendered("jobs"), "Job", "nobat-check")


def test_the_job_gives_the_cli_every_database_and_nats_from_documented_secrets() -> None:
    docs = rendered("jobs")
    env = container_env(only_container(check_job()), docs)
    assert set(env) == {*(database_variable(s) for s in SERVICES), NATS_VARIABLE}
    documented = documented_secrets()
    for name, source in env.items():
        assert source.kind == "secret", f"{name} must come from a Secret"
        secret, key = source.secret
        assert key in documented.get(secret, set()), f"{secret}/{key} is not in the README"
    for service in SERVICES:
        assert env[database_variable(service)].secret == (f"nobat-{service}-db", "url")


def test_the_job_fails_rather_than_retries_a_violation() -> None:
    spec = check_job()["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    # Not a server: the rollout script and the default-deny policies select by these.
    labels = spec["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "check"
    assert "app.kubernetes.io/part-of" not in labels


# Runs the CLI as `python -m cli ARGS` would, then checks each package it loaded came
# from the image's tree: the editable install would otherwise stand in for one the image
# lacks.
RUN_IN_IMAGE = textwrap.dedent(
    """
    import contextlib, io, runpy, sys
    mirror, module, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    sys.argv = [module, *args]
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.suppress(SystemExit):
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    for package in ("cli", "stack", "runtime"):
        where = list(sys.modules[package].__path__)[0]
        assert where.startswith(mirror), f"{package} is not in the image (found {where})"
    print(said.getvalue())
    """
)


def test_the_jobs_command_runs_in_the_images_layout(tmp_path: Path) -> None:
    """The image's entrypoint and the Job's args start the CLI with only what the image
    copies (stack/ included, which the CLI imports)."""
    argv = exec_form(final().last("ENTRYPOINT")) + only_container(check_job())["args"]
    assert argv == ["python", "-m", "cli", "check", "--json"]
    environ = {**os.environ, "PYTHONPATH": image_tree(tmp_path)}
    for asked, expected in [(["--version"], "nobat "), (["check", "--help"], "--json")]:
        done = subprocess.run(
            [sys.executable, "-c", RUN_IN_IMAGE, str(tmp_path), argv[2], *asked],
            env=environ,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
