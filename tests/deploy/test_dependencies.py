"""NATS and PostgreSQL: the parts of them the services count on.

Neither the NATS chart nor the CloudNativePG CRDs are available offline, so these check
the values and custom resources for what nobat relies on rather than against a schema.
"""

from __future__ import annotations

import pytest
import yaml

from tests.deploy.contract import SERVICES
from tests.deploy.manifests import (
    DEPLOY,
    OVERLAYS,
    container_env,
    named,
    of_kind,
    only_container,
    rendered,
    server,
)


def test_nats_is_a_three_node_jetstream_cluster_that_syncs_every_write() -> None:
    config = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())["config"]
    assert config["cluster"]["enabled"] is True
    assert config["cluster"]["replicas"] == 3
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert jetstream["merge"]["sync_interval"] == "always"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_database_and_role(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    (cluster,) = of_kind(docs, "Cluster")
    roles = {role["name"]: role for role in cluster["spec"]["managed"]["roles"]}
    databases = {db["spec"]["name"]: db for db in of_kind(docs, "Database")}
    assert roles.keys() == databases.keys() == set(SERVICES)
    for service in SERVICES:
        role, database = roles[service], databases[service]
        assert role["login"] is True
        assert role["ensure"] == "present"
        assert database["spec"]["owner"] == service
        assert database["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
        # The role's password and the service's URL live in one Secret, so they agree.
        env = container_env(only_container(server(docs, service)), docs)
        url_secret, _ = env["NOBAT_DATABASE_URL"].secret
        assert role["passwordSecret"]["name"] == url_secret


def test_production_postgres_survives_losing_its_primary() -> None:
    cluster = named(rendered("overlays/prod"), "Cluster", "nobat-postgres")["spec"]
    assert cluster["instances"] >= 3
    synchronous = cluster["postgresql"]["synchronous"]
    assert synchronous["number"] >= 1
    assert synchronous["dataDurability"] == "required"
