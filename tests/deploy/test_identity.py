"""The issuers every server believes, as the manifests give them: the file the services
read, where they read it, and the service keys beside it."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from runtime.auth import SERVICE, read_issuers
from tests.deploy.contract import SERVICES, SIGNERS
from tests.deploy.manifests import (
    OVERLAYS,
    container_env,
    of_kind,
    only_container,
    pod_spec,
    rendered,
    server,
)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_server_reads_the_issuers_file_where_it_is_mounted(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    configmaps = {doc["metadata"]["name"]: doc for doc in of_kind(docs, "ConfigMap")}
    for service in SERVICES:
        workload = server(docs, service)
        container = only_container(workload)
        path = PurePosixPath(container_env(container, docs)["NOBAT_TOKEN_ISSUERS_FILE"].value)
        [mount] = [
            m for m in container["volumeMounts"] if PurePosixPath(m["mountPath"]) == path.parent
        ]
        [volume] = [v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"]]
        sources = [source["configMap"]["name"] for source in volume["projected"]["sources"]]
        issuers_map = next(name for name in sources if name.startswith("nobat-token-issuers"))
        document = configmaps[issuers_map]["data"][path.name]

        issuers = read_issuers(document, service, 3600)
        # Only the services that call payment sign, each with its JWKS in the same volume.
        signers = {issuer.service: issuer for issuer in issuers if issuer.service}
        assert set(signers) == SIGNERS
        for name in SIGNERS:
            assert signers[name].roles == {SERVICE}
            assert signers[name].audience == f"nobat-{service}"
        assert "nobat-service-jwks" in sources
        for entry in json.loads(document)["issuers"]:
            if "service" in entry:
                assert PurePosixPath(entry["jwks"]).parent == path.parent
        # The identity provider asserts users only, over HTTPS.
        [provider] = [issuer for issuer in issuers if issuer.service is None]
        assert provider.roles == {"patient", "doctor", "admin"}
