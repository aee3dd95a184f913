"""Each service's workload, as rendered by each overlay, against what the service needs."""

from __future__ import annotations

import pytest

from tests.deploy.contract import (
    SECRETS,
    SERVICES,
    SIGNERS,
    SIGNING_KEY,
    Settings,
    migrate_settings,
    serve_settings,
)
from tests.deploy.manifests import (
    OVERLAYS,
    EnvSource,
    container_env,
    migration,
    of_kind,
    only_container,
    pod_spec,
    port_named,
    rendered,
    server,
    services_selecting,
)

each_workload = pytest.mark.parametrize(
    ("overlay", "service"), [(o, s) for o in OVERLAYS for s in SERVICES]
)


def setting(name: str, env: dict[str, EnvSource], settings: Settings) -> str:
    """The value the process will see: the manifests' literal, else the code's default."""
    if name in env:
        assert env[name].kind in {"value", "configmap"}, f"{name} must be a plain value"
        return env[name].value
    assert name in settings.defaults, f"{name} is neither set nor defaulted"
    return settings.defaults[name]


@each_workload
def test_every_required_setting_is_provided(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    for workload, needed in [
        (server(docs, service), serve_settings(service).required),
        (migration(docs, service), migrate_settings().required),
    ]:
        env = container_env(only_container(workload), docs)
        missing = sorted(needed - env.keys())
        assert not missing, f"{workload['metadata']['name']} lacks {missing}"
        for name in needed:
            assert not env[name].optional, f"{name} is required, not optional"


@each_workload
def test_secrets_come_from_secret_references(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    for workload in (server(docs, service), migration(docs, service)):
        env = container_env(only_container(workload), docs)
        for name in SECRETS & env.keys():
            assert env[name].kind == "secret", f"{name} must come from a Secret"


@each_workload
def test_only_the_callers_of_payment_hold_the_signing_key(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    env = container_env(only_container(server(docs, service)), docs)
    assert (SIGNING_KEY in env) == (service in SIGNERS)


@each_workload
def test_server_and_migration_use_the_same_database(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    server_env = container_env(only_container(server(docs, service)), docs)
    migration_env = container_env(only_container(migration(docs, service)), docs)
    database = server_env["NOBAT_DATABASE_URL"].secret
    assert database == migration_env["NOBAT_DATABASE_URL"].secret
    assert database == (f"nobat-{service}-db", "url")


@each_workload
def test_probes_ask_the_port_the_service_serves_grpc_on(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    deployment = server(docs, service)
    container = only_container(deployment)
    settings = serve_settings(service)
    env = container_env(container, docs)
    grpc_port = int(setting("NOBAT_GRPC_PORT", env, settings))
    assert port_named(container, "grpc") == grpc_port
    # kubelet cannot present a certificate: with TLS on, probes ask the plaintext port.
    probed = grpc_port
    if "NOBAT_TLS_CERT_FILE" in env:
        probed = int(setting("NOBAT_HEALTH_PORT", env, settings))
        assert port_named(container, "health") == probed != grpc_port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == probed, probe
    metrics_port = int(setting("NOBAT_METRICS_PORT", env, settings))
    assert port_named(container, "metrics") == metrics_port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(metrics_port)


@each_workload
def test_services_route_to_the_ports_the_container_serves(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    deployment = server(docs, service)
    container = only_container(deployment)
    env = container_env(container, docs)
    served = {"grpc": int(setting("NOBAT_GRPC_PORT", env, serve_settings(service)))}
    if service == "payment":
        served["webhook"] = int(setting("NOBAT_WEBHOOK_PORT", env, serve_settings(service)))
        assert port_named(container, "webhook") == served["webhook"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    exposed = {}
    for svc in services_selecting(docs, pod_labels):
        targets = {port["targetPort"] for port in svc["spec"]["ports"]}
        # The webhook is reachable apart from gRPC: never two of them on one Service.
        assert len(targets) == 1, f"{svc['metadata']['name']} mixes {sorted(targets)}"
        (target,) = targets
        exposed[target] = svc["metadata"]["name"]
        assert port_named(container, target) == served[target]
    assert exposed.keys() == served.keys()
    # Nothing routes to a migration Job's pod.
    job_labels = migration(docs, service)["spec"]["template"]["metadata"]["labels"]
    assert not list(services_selecting(docs, job_labels))


@each_workload
def test_termination_outlasts_the_shutdown(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    deployment = server(docs, service)
    container = only_container(deployment)
    env = container_env(container, docs)
    grace = float(setting("NOBAT_SHUTDOWN_GRACE_SECONDS", env, serve_settings(service)))
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # After the preStop pause, the server stops within the grace, then the consumers do.
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > pre_stop + 2 * grace


@each_workload
def test_pods_are_locked_down(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    for workload in (server(docs, service), migration(docs, service)):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), bound


@each_workload
def test_commands_run_the_service(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    for workload, command in [
        (server(docs, service), "serve"),
        (migration(docs, service), "migrate"),
    ]:
        container = only_container(workload)
        assert "command" not in container, "the image's entrypoint is `python -m`"
        assert container["args"] == [f"services.{service}", command]


@each_workload
def test_disruption_budget_and_autoscaler_cover_the_server(overlay: str, service: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    deployment = server(docs, service)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    budgets = [
        pdb
        for pdb in of_kind(docs, "PodDisruptionBudget")
        if pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ]
    assert len(budgets) == 1
    scalers = [
        hpa
        for hpa in of_kind(docs, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ]
    if overlay == "dev":
        assert not scalers
        assert deployment["spec"]["replicas"] == 1
    else:
        assert len(scalers) == 1
        assert scalers[0]["spec"]["minReplicas"] >= 2
        # The autoscaler owns the count; a replicas field would fight it on every apply.
        assert "replicas" not in deployment["spec"]
