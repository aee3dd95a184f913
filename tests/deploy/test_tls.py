"""TLS in production (deploy/components/tls, deploy/nats/tls.yaml): every server holds an
identity from cert-manager and is told to use it, PostgreSQL is verified against its CA
and refuses plaintext, probes ask the plaintext health port, NATS requires TLS and shows
its monitoring port to no one. Development stays plaintext."""

from __future__ import annotations

import yaml

from runtime.tls import IDENTITY_SETTINGS
from tests.deploy.contract import SERVICES
from tests.deploy.manifests import (
    DEPLOY,
    container_env,
    migration,
    named,
    of_kind,
    only_container,
    pod_spec,
    rendered,
    server,
)

PROD, DEV = "overlays/prod", "overlays/dev"
ISSUER = {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "nobat-ca"}
DATABASE_CA = "NOBAT_TLS_DATABASE_CA_FILE"


def mounted_secret(workload: dict, path: str) -> tuple[str, str]:
    """(Secret, key) behind the file at `path` in the workload's only container."""
    container = only_container(workload)
    volumes = {volume["name"]: volume for volume in pod_spec(workload)["volumes"]}
    for mount in container["volumeMounts"]:
        folder = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(folder):
            assert mount.get("readOnly") is True, mount
            return volumes[mount["name"]]["secret"]["secretName"], path.removeprefix(folder)
    raise AssertionError(f"nothing is mounted at {path}")


def env_values(workload: dict, docs: list[dict]) -> dict[str, str]:
    env = container_env(only_container(workload), docs)
    return {name: source.value for name, source in env.items() if source.kind == "value"}


def test_every_server_uses_its_own_certificate_from_the_issuer() -> None:
    docs = rendered(PROD)
    for service in SERVICES:
        deployment = server(docs, service)
        env = env_values(deployment, docs)
        files = [env[name] for name in IDENTITY_SETTINGS]
        secrets = {mounted_secret(deployment, path) for path in files}
        assert secrets == {
            (f"nobat-{service}-tls", key) for key in ("tls.crt", "tls.key", "ca.crt")
        }
        certificate = named(docs, "Certificate", f"nobat-{service}-tls")["spec"]
        assert certificate["secretName"] == f"nobat-{service}-tls"
        assert certificate["issuerRef"] == ISSUER
        # The name its callers dial, and both ends of a connection.
        assert f"nobat-{service}-grpc" in certificate["dnsNames"]
        assert {"server auth", "client auth"} <= set(certificate["usages"])
    assert len(of_kind(docs, "Certificate")) == len(SERVICES)


def test_servers_and_migrations_verify_postgresql_against_its_ca() -> None:
    docs = rendered(PROD)
    for service in SERVICES:
        for workload in (server(docs, service), migration(docs, service)):
            path = env_values(workload, docs)[DATABASE_CA]
            assert mounted_secret(workload, path) == ("nobat-postgres-ca", "ca.crt")
    cluster = named(docs, "Cluster", "nobat-postgres")["spec"]
    assert cluster["postgresql"]["pg_hba"] == [
        "hostnossl all all 0.0.0.0/0 reject",
        "hostnossl all all ::/0 reject",
    ]


def test_probes_ask_the_plaintext_health_port_and_the_grpc_service_is_not_h2c() -> None:
    docs = rendered(PROD)
    for service in SERVICES:
        container = only_container(server(docs, service))
        health = int(env_values(server(docs, service), docs)["NOBAT_HEALTH_PORT"])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == health
        grpc_service = named(docs, "Service", f"nobat-{service}-grpc")
        assert "appProtocol" not in grpc_service["spec"]["ports"][0]


def test_development_stays_plaintext() -> None:
    docs = rendered(DEV)
    assert not of_kind(docs, "Certificate")
    for service in SERVICES:
        for workload in (server(docs, service), migration(docs, service)):
            env = container_env(only_container(workload), docs)
            assert not [name for name in env if name.startswith("NOBAT_TLS_")]
    assert "pg_hba" not in named(docs, "Cluster", "nobat-postgres")["spec"]["postgresql"]


def test_nats_requires_tls_with_a_client_certificate_and_hides_its_monitor() -> None:
    values = yaml.safe_load((DEPLOY / "nats" / "tls.yaml").read_text())
    config = values["config"]
    clients = config["nats"]["tls"]
    assert clients["enabled"] is True and clients["merge"]["verify"] is True
    assert config["cluster"]["tls"]["enabled"] is True
    assert values["tlsCA"] == {
        "enabled": True,
        "secretName": clients["secretName"],
        "key": "ca.crt",
    }
    extra = {doc["kind"]: doc for doc in values["extraResources"]}
    certificate = extra["Certificate"]["spec"]
    assert certificate["secretName"] == clients["secretName"]
    assert certificate["issuerRef"] == ISSUER
    assert "nats.nats.svc" in certificate["dnsNames"]
    # No Service carries the monitoring port, and no pod may reach it.
    assert values["service"]["ports"]["monitor"]["enabled"] is False
    monitor = config["monitor"].get("port", 8222)
    allowed = [
        port["port"] for rule in extra["NetworkPolicy"]["spec"]["ingress"] for port in rule["ports"]
    ]
    assert monitor not in allowed and 4222 in allowed
    # The shared values, which development installs alone, turn none of it on.
    shared = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    assert "tls" not in shared["config"].get("nats", {})
