"""Production's pods talk only along the flows nobat has: a default-deny NetworkPolicy,
and rules that each name who, to or from where, and on which port."""

from __future__ import annotations

from tests.deploy.contract import SERVICES
from tests.deploy.manifests import of_kind, rendered

PROD = "overlays/prod"


def policies() -> dict[str, dict]:
    return {
        doc["metadata"]["name"]: doc["spec"] for doc in of_kind(rendered(PROD), "NetworkPolicy")
    }


def selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    return all(
        labels.get(rule["key"]) in rule["values"]
        for rule in selector.get("matchExpressions", [])
        if rule["operator"] == "In"
    )


def pods(kinds: tuple[str, ...] = ("Deployment", "Job")) -> list[tuple[str, dict, set[str]]]:
    """(name, pod labels, named container ports) of every workload of `kinds` prod runs."""
    found = []
    for kind in kinds:
        for doc in of_kind(rendered(PROD), kind):
            template = doc["spec"]["template"]
            ports = {
                port["name"]
                for container in template["spec"]["containers"]
                for port in container.get("ports", [])
            }
            found.append((doc["metadata"]["name"], template["metadata"]["labels"], ports))
    return found


def test_every_pod_of_nobat_is_denied_everything_not_allowed():
    deny = policies()["nobat-default-deny"]
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny
    for name, labels, _ in pods():
        assert selects(deny["podSelector"], labels), f"{name} escapes the default deny"
    services = {labels.get("app.kubernetes.io/name") for _, labels, _ in pods()}
    assert set(SERVICES) <= services


def test_every_rule_names_its_peers_and_ports_and_the_ports_exist():
    for name, spec in policies().items():
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            peers = rule.get("from", rule.get("to"))
            assert peers and rule.get("ports"), f"{name} allows any peer or any port"
        for rule in spec.get("ingress", []):
            for port in rule["ports"]:
                # Servers only: a migration Job listens on nothing and is sent nothing.
                servers = pods(("Deployment",))
                selected = [p for _, labels, p in servers if selects(spec["podSelector"], labels)]
                assert selected, f"{name} selects no server"
                assert all(port["port"] in named for named in selected), (name, port)


def test_nothing_but_the_gateway_the_ingress_and_prometheus_comes_in_from_outside():
    outside = {
        name: rule["from"]
        for name, spec in policies().items()
        for rule in spec.get("ingress", [])
        if any("namespaceSelector" in peer for peer in rule["from"])
    }
    assert {
        name: [peer["namespaceSelector"]["matchLabels"] for peer in peers]
        for name, peers in outside.items()
    } == {
        "nobat-grpc-from-gateway": [{"nobat.io/api-gateway": "true"}],
        "nobat-payment-webhooks": [{"nobat.io/ingress": "true"}],
        "nobat-metrics-from-prometheus": [{"nobat.io/monitoring": "true"}],
    }
