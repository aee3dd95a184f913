"""deploy/gateway: the reference Envoy configuration and the Gateway API routes, checked
against the protos' descriptor set and the services' own settings (no Envoy here)."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from functools import cache

import pytest
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from runtime.auth import TokenVerifier
from tests.deploy import manifests
from tests.deploy.contract import ROOT, SERVICES
from tests.deploy.manifests import DEPLOY, named, of_kind, rendered

GATEWAY = DEPLOY / "gateway"
# protos/*.py are scripts that import each other by bare name, as when run from there.
sys.path.insert(0, str(ROOT / "protos"))
openapi = importlib.import_module("openapi")
generate = importlib.import_module("generate")


@cache
def envoy() -> dict:
    return yaml.safe_load((GATEWAY / "envoy.yaml").read_text())


def connection_manager() -> dict:
    (listener,) = envoy()["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    return manager["typed_config"]


def routes() -> list[dict]:
    (host,) = connection_manager()["route_config"]["virtual_hosts"]
    return host["routes"]


def http_filter(name: str) -> dict:
    found = [f for f in connection_manager()["http_filters"] if f["name"] == name]
    assert len(found) == 1, f"envoy.yaml has {len(found)} {name} filters"
    return found[0]["typed_config"]


def clusters() -> dict[str, dict]:
    return {cluster["name"]: cluster for cluster in envoy()["static_resources"]["clusters"]}


@cache
def contract() -> openapi.Contract:
    return openapi.Contract(openapi.fresh_descriptors())


def public_methods() -> dict[str, tuple[str, descriptor_pb2.MethodDescriptorProto]]:
    """gRPC path -> (HTTP verb, method) of every public RPC."""
    found = {}
    for package, service, method in contract().public_methods():
        rule = method.options.Extensions[annotations_pb2.http]
        found[f"/{package}.{service}/{method.name}"] = (rule.WhichOneof("pattern"), method)
    return found


def idempotent(verb: str, method: descriptor_pb2.MethodDescriptorProto) -> bool:
    """nobat's convention (DESIGN.md, "API conventions"): a read, or a unary call whose
    idempotency_key makes a second try return the first answer."""
    if method.server_streaming or method.client_streaming:
        return False
    request = contract().messages[method.input_type]
    return verb == "get" or any(field.name == "idempotency_key" for field in request.field)


def setting(name: str, service: str = "payment") -> str:
    """A plain setting of a prod server, as its container gets it."""
    docs = rendered("overlays/prod")
    container = manifests.only_container(manifests.server(docs, service))
    value = manifests.container_env(container, docs)[name].value
    assert value is not None, name
    return value


def method_routes() -> dict[str, dict]:
    return {route["match"]["path"]: route for route in routes() if "path" in route["match"]}


def test_every_public_rpc_has_one_route_and_nothing_else_reaches_a_service() -> None:
    paths = [route["match"].get("path") for route in routes()]
    assert len(paths) == len(set(paths))
    assert set(method_routes()) == set(public_methods())
    # Internal RPCs (CreatePayment, admin calls) and unknown paths end at a 404.
    last = routes()[-1]
    assert last["match"] == {"prefix": "/"}
    assert last["direct_response"]["status"] == 404
    assert json.loads(last["direct_response"]["body"]["inline_string"])["code"] == 5


def test_every_route_and_the_jwks_fetch_use_a_cluster_envoy_defines() -> None:
    for path, route in method_routes().items():
        service = path.split(".")[1]
        assert route["route"]["cluster"] == service, path
    provider = http_filter("envoy.filters.http.jwt_authn")["providers"]["identity_provider"]
    used = {route["route"]["cluster"] for route in method_routes().values()}
    used.add(provider["remote_jwks"]["http_uri"]["cluster"])
    assert used == set(clusters())


def test_each_service_cluster_dials_that_services_grpc_service_with_its_certificate() -> None:
    docs = rendered("overlays/prod")
    certificates = {doc["metadata"]["name"]: doc for doc in of_kind(docs, "Certificate")}
    for service in SERVICES:
        cluster = clusters()[service]
        (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        address = endpoint["endpoint"]["address"]["socket_address"]
        grpc = named(docs, "Service", f"nobat-{service}-grpc")
        assert (
            address["address"]
            == f"nobat-{service}-grpc.{grpc['metadata']['namespace']}.svc.cluster.local"
        )
        assert address["port_value"] == grpc["spec"]["ports"][0]["port"]
        tls = cluster["transport_socket"]["typed_config"]
        # The name Envoy asks for is one the service's certificate carries.
        assert tls["sni"] in certificates[f"nobat-{service}-tls"]["spec"]["dnsNames"]


def test_envoy_transcodes_the_services_of_the_descriptor_set() -> None:
    transcoder = http_filter("envoy.filters.http.grpc_json_transcoder")
    public = {f"{package}.{service}" for package, service, _ in contract().public_methods()}
    assert set(transcoder["services"]) == public
    # Errors reach apps as google.rpc.Status JSON, their details included.
    assert transcoder["convert_grpc_status"] is True


def test_only_idempotent_unary_calls_are_retried_and_streams_have_no_deadline() -> None:
    retried = 0
    for path, route in method_routes().items():
        verb, method = public_methods()[path]
        action = route["route"]
        if method.server_streaming:
            assert "retry_policy" not in action, path
            assert action["timeout"] == action["idle_timeout"] == "0s", path
            continue
        assert action["timeout"] not in {"0s", None}, f"{path} has no deadline"
        if "retry_policy" in action:
            assert idempotent(verb, method), f"{path} is retried but not idempotent"
            assert "unavailable" in action["retry_policy"]["retry_on"].split(",")
            retried += 1
    assert retried, "no call is retried at all"


def test_a_call_without_an_idempotency_key_is_not_counted_idempotent() -> None:
    """The check above means something: a write without a key would fail it."""
    _, start = public_methods()["/nobat.booking.v1.BookingService/StartCheckout"]
    assert idempotent("post", start)
    keyless = descriptor_pb2.MethodDescriptorProto(input_type=".nobat.common.v1.Money")
    assert not idempotent("post", keyless)
    assert idempotent("get", keyless)


def test_the_gateway_believes_the_tokens_the_services_believe() -> None:
    jwt = http_filter("envoy.filters.http.jwt_authn")
    provider = jwt["providers"]["identity_provider"]
    identity = json.loads((DEPLOY / "base" / "identity" / "issuers.json").read_text())
    (users,) = [entry for entry in identity["issuers"] if "roles" in entry]
    assert provider["issuer"] == users["issuer"]
    assert provider["audiences"] == [users["audience"]]
    assert provider["remote_jwks"]["http_uri"]["uri"] == users["jwks"]
    # The services verify the token again and read the caller's role from it.
    assert provider["forward"] is True
    assert provider["max_lifetime"] == f"{setting('NOBAT_JWT_MAX_LIFETIME_SECONDS')}s"
    leeway = inspect.signature(TokenVerifier).parameters["leeway"].default
    assert provider["clock_skew_seconds"] <= leeway
    # Every path needs a token; only CORS preflights, which carry none, pass without.
    assert jwt["rules"] == [
        {"match": {"prefix": "/"}, "requires": {"provider_name": "identity_provider"}}
    ]


def test_filters_run_in_the_order_browsers_and_apps_need() -> None:
    names = [f["name"] for f in connection_manager()["http_filters"]]
    assert names == [
        "envoy.filters.http.cors",
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]
    (host,) = connection_manager()["route_config"]["virtual_hosts"]
    cors = host["typed_per_filter_config"]["envoy.filters.http.cors"]
    allowed = {header.strip() for header in cors["allow_headers"].split(",")}
    exposed = {header.strip() for header in cors["expose_headers"].split(",")}
    assert {"authorization", "content-type", "x-grpc-web"} <= allowed
    # A gRPC-Web client reads a call's outcome from these.
    assert {"grpc-status", "grpc-message"} <= exposed


def test_envoy_pings_the_services_no_more_often_than_they_allow() -> None:
    for service in SERVICES:
        least = float(setting("NOBAT_GRPC_MIN_CLIENT_PING_SECONDS", service))
        options = clusters()[service]["typed_extension_protocol_options"]
        http2 = next(iter(options.values()))["explicit_http_config"]["http2_protocol_options"]
        assert float(http2["connection_keepalive"]["interval"].removesuffix("s")) >= least


def test_the_gateway_reads_the_descriptor_set_of_the_image_the_services_run() -> None:
    transcoder = http_filter("envoy.filters.http.grpc_json_transcoder")
    docs = rendered("gateway")
    deployment = named(docs, "Deployment", "nobat-api-gateway")
    spec = deployment["spec"]["template"]["spec"]
    (copy,) = spec["initContainers"]
    (proxy,) = spec["containers"]
    source, target = copy["command"][1:]
    # make protos (and the image's build) write it there; the image keeps /app/gen.
    assert source == f"/app/gen/{generate.DESCRIPTOR_SET}"
    assert "COPY --from=build /app/gen gen" in (DEPLOY / "Dockerfile").read_text()
    assert target == transcoder["proto_descriptor"]
    services_image = {
        doc["spec"]["template"]["spec"]["containers"][0]["image"]
        for doc in of_kind(rendered("overlays/prod"), "Deployment")
    }
    assert {copy["image"]} == services_image
    mounts = {mount["mountPath"] for mount in proxy["volumeMounts"]}
    assert target.rsplit("/", 1)[0] in mounts
    config = proxy["args"][proxy["args"].index("--config-path") + 1]
    assert config.rsplit("/", 1)[0] in mounts


@pytest.mark.parametrize("kind", ["HTTPRoute", "GRPCRoute"])
def test_the_gateway_api_routes_send_calls_to_envoy(kind: str) -> None:
    docs = rendered("gateway")
    service = named(docs, "Service", "nobat-api-gateway")
    port = service["spec"]["ports"][0]["port"]
    (route,) = of_kind(docs, kind)
    for rule in route["spec"]["rules"]:
        assert rule["backendRefs"] == [{"name": "nobat-api-gateway", "port": port}]


def test_the_grpc_route_lets_through_the_public_rpcs_only() -> None:
    (route,) = of_kind(rendered("gateway"), "GRPCRoute")
    matched = {
        f"/{match['method']['service']}/{match['method']['method']}"
        for rule in route["spec"]["rules"]
        for match in rule["matches"]
    }
    assert matched == set(public_methods())


def test_the_http_route_carries_every_json_path_and_grpc_web_service() -> None:
    (route,) = of_kind(rendered("gateway"), "HTTPRoute")
    prefixes = {
        match["path"]["value"] for rule in route["spec"]["rules"] for match in rule["matches"]
    }
    document = json.loads(openapi.DOCUMENT.read_text())
    for path in document["paths"]:
        assert any(path.startswith(prefix) for prefix in prefixes), path
    for grpc_path in public_methods():
        assert any(grpc_path.startswith(prefix) for prefix in prefixes), grpc_path
