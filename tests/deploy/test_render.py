"""Every kustomization renders offline and every object is valid Kubernetes, strictly."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from tests.deploy.manifests import KUSTOMIZATIONS, OVERLAYS, rendered, server

# The oldest Kubernetes the manifests support (preStop `sleep` is on by default from 1.30,
# PodDisruptionBudget's unhealthyPodEvictionPolicy is GA in 1.31) and the newest schema
# kubernetes-validate 1.37.0 bundles, which is also the pinned kubectl's version.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")

# Custom resources have no schema offline; these are checked in test_dependencies.py.
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "Database"),
    ("cert-manager.io/v1", "Certificate"),
    # deploy/gateway's routes; test_gateway.py checks them against the protos.
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.networking.k8s.io/v1", "GRPCRoute"),
    # Checked in test_monitoring.py.
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def validate(doc: dict, version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_renders_and_validates_strictly(path: str, version: str) -> None:
    docs = rendered(path)
    assert docs, f"deploy/{path} rendered nothing"
    for doc in docs:
        where = f"deploy/{path}: {doc['kind']} {doc['metadata']['name']}"
        try:
            validate(doc, version)
        except ValidationError as exc:
            field = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{where} is invalid for Kubernetes {version}: {field}: {exc.message}")
        except SchemaNotFoundError:
            assert (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS, f"{where}: unknown kind"


def test_strict_validation_rejects_unknown_fields() -> None:
    """The check above means something: a misspelt field does not pass."""
    deployment = copy.deepcopy(server(rendered("overlays/prod"), "payment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpcc"] = {}
    with pytest.raises(ValidationError):
        validate(deployment, KUBERNETES_VERSIONS[-1])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_namespaced_and_labelled(overlay: str) -> None:
    namespaces = set()
    for doc in rendered(f"overlays/{overlay}"):
        namespaces.add(doc["metadata"].get("namespace"))
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "nobat", doc["metadata"]["name"]
    assert len(namespaces) == 1
    assert None not in namespaces
