"""Production sends traces to an OpenTelemetry collector and may reach it; a development
cluster traces nothing unless its operator asks (runtime/tracing.py's rule)."""

from __future__ import annotations

from urllib.parse import urlsplit

from runtime.tracing import exporter_wanted
from tests.deploy.contract import SERVICES
from tests.deploy.manifests import container_env, of_kind, only_container, rendered, server
from tests.deploy.test_network import policies, selects


def server_environment(overlay: str, service: str) -> dict[str, str]:
    docs = rendered(f"overlays/{overlay}")
    env = container_env(only_container(server(docs, service)), docs)
    return {name: source.value or "" for name, source in env.items() if source.kind != "secret"}


def test_every_production_server_traces_to_the_collector_it_may_reach():
    egress = policies()["nobat-traces-to-collector"]
    [rule] = egress["egress"]
    allowed_ports = {port["port"] for port in rule["ports"]}
    for service in SERVICES:
        env = server_environment("prod", service)
        assert exporter_wanted(env) == "otlp", service
        endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.port in allowed_ports, (service, endpoint.port)
        assert "OTEL_SERVICE_NAME" not in env, f"{service} would take another's name"
    pods = of_kind(rendered("overlays/prod"), "Deployment")
    assert all(
        selects(egress["podSelector"], pod["spec"]["template"]["metadata"]["labels"])
        for pod in pods
        if pod["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name") in SERVICES
    )


def test_a_development_server_traces_nothing():
    for service in SERVICES:
        assert exporter_wanted(server_environment("dev", service)) is None, service
