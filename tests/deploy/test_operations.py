"""What an operator runs and reads: the rollout script, the metrics, the connection budget."""

from __future__ import annotations

import math
import re
import subprocess

import pytest

from tests.deploy.manifests import DEPLOY, OVERLAYS, named, of_kind, rendered
from tests.deploy.monitoring import registered

# A server's connections: a pool of 10 and 10 overflow (runtime/db.py), and the relay's LISTEN.
CONNECTIONS_PER_SERVER = 21


def test_rollout_script_parses() -> None:
    subprocess.run(["bash", "-n", str(DEPLOY / "rollout.sh")], check=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollout_script_selects_what_the_overlay_renders(overlay: str) -> None:
    script = (DEPLOY / "rollout.sh").read_text()
    components = set(re.findall(r'component (\w+)\)"', script))
    assert components == {"database", "migration", "server"}
    labelled = {
        doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        for doc in rendered(f"overlays/{overlay}")
    }
    assert components <= labelled
    assert named(rendered(f"overlays/{overlay}"), "Cluster", "nobat-postgres")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_payment_rolls_out_after_every_other_server(overlay: str) -> None:
    """Payment's readers must ask NATS for the subjects its news comes on before it
    publishes there (protos/CHANGELOG.md): the script's first apply leaves out payment's
    Deployment, by a label only it carries, and keeps every other server."""
    script = (DEPLOY / "rollout.sh").read_text()
    servers = script.split('echo "== Servers"', 1)[1]
    (label, value) = re.findall(r'readers="([\w./-]+)!=(\w+)"', servers)[0]
    first = servers.index('kubectl apply -f "$rendered" -l "$readers"')
    assert first < servers.index('kubectl apply -f "$rendered"\n')
    deployments = of_kind(rendered(f"overlays/{overlay}"), "Deployment")
    left_out = [
        d["metadata"]["name"] for d in deployments if d["metadata"]["labels"].get(label) == value
    ]
    assert left_out == ["nobat-payment-server"]
    assert len(deployments) > 1


def test_the_metrics_the_readme_says_to_watch_exist() -> None:
    readme = (DEPLOY / "README.md").read_text()
    section = readme.split("## What to watch", 1)[1].split("\n## ", 1)[0]
    watched = set(re.findall(r"\b(nobat_[a-z_]+?)(?:_bucket|_sum|_count)?\b", section))
    assert watched >= {
        "nobat_orphan_payments",
        "nobat_outbox_lag_seconds",
        "nobat_dead_letters_total",
    }
    exported = registered().keys()
    for metric in watched:
        assert metric in exported, f"deploy/README.md watches {metric}, which nothing exports"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_has_room_for_every_server(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    most = 0
    for deployment in of_kind(docs, "Deployment"):
        scalers = [
            hpa["spec"]["maxReplicas"]
            for hpa in of_kind(docs, "HorizontalPodAutoscaler")
            if hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        ]
        replicas = max(scalers or [deployment["spec"]["replicas"]])
        surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        surging = math.ceil(replicas * int(surge.rstrip("%")) / 100) if "%" in str(surge) else surge
        most += (replicas + surging) * CONNECTIONS_PER_SERVER
    cluster = named(docs, "Cluster", "nobat-postgres")["spec"]
    assert most < int(cluster["postgresql"]["parameters"]["max_connections"])
