"""No secret value is committed; every Secret the manifests use is one the README creates."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.contract import SERVICES
from tests.deploy.manifests import DEPLOY, KUSTOMIZATIONS, OVERLAYS, container_env, rendered

# What a key, a token or a password looks like when someone pastes one into a file.
LOOKS_SECRET = re.compile(
    r"-----BEGIN [A-Z ]*(PRIVATE KEY|PUBLIC KEY|CERTIFICATE)-----"
    r"|\b(sk|rk)_(live|test)_[0-9A-Za-z]{8,}"
    r"|\bwhsec_[0-9A-Za-z]{8,}"
    # A URL with a password in it, unless the password is a $VARIABLE or a <placeholder>.
    r"|(postgres(ql)?(\+asyncpg)?|nats|tls)://[^:/\s]+:(?![$<{])[^@\s]+@"
)


def committed_files() -> list:
    return sorted(path for path in DEPLOY.rglob("*") if path.is_file())


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_no_secret_is_rendered(path: str) -> None:
    secrets = [doc["metadata"]["name"] for doc in rendered(path) if doc["kind"] == "Secret"]
    assert not secrets, f"deploy/{path} renders Secrets {secrets}: reference them instead"


def test_no_secret_or_secret_generator_is_committed() -> None:
    for path in committed_files():
        if path.suffix not in {".yaml", ".yml"}:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            assert doc.get("kind") != "Secret", f"{path} holds a Secret"
            assert "secretGenerator" not in doc, f"{path} generates a Secret from files"


def test_nothing_committed_looks_like_a_credential() -> None:
    for path in committed_files():
        match = LOOKS_SECRET.search(path.read_text(errors="replace"))
        assert not match, f"{path} contains what looks like a credential: {match.group(0)!r}"


def documented_secrets() -> dict[str, set[str]]:
    """The table in deploy/README.md: | `name` | `key`, `key` | ... |."""
    table = {}
    for line in (DEPLOY / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not re.fullmatch(r"`nobat-[a-z<>-]+`", cells[0]):
            continue
        keys = set(re.findall(r"`([a-z-]+)`", cells[1]))
        name = cells[0].strip("`")
        for service in SERVICES if "<service>" in name else [None]:
            table[name.replace("<service>", service or "")] = keys
    return table


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_referenced_secret_is_documented(overlay: str) -> None:
    documented = documented_secrets()
    assert documented, "deploy/README.md has no table of Secrets"
    docs = rendered(f"overlays/{overlay}")
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for name, source in container_env(container, docs).items():
                if source.kind != "secret":
                    continue
                secret, key = source.secret
                assert key in documented.get(secret, set()), (
                    f"{name} reads key {key} of Secret {secret}, which deploy/README.md "
                    "does not tell operators to create"
                )
