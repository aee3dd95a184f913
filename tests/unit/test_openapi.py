"""The contract as files for gateway and app teams: the descriptor set and the OpenAPI
document generated from the protos' google.api.http annotations (protos/openapi.py)."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from functools import cache
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

ROOT = Path(__file__).resolve().parents[2]
# protos/*.py are scripts that import each other by bare name, as when run from there.
sys.path.insert(0, str(ROOT / "protos"))
openapi = importlib.import_module("openapi")


@cache
def descriptors() -> descriptor_pb2.FileDescriptorSet:
    return openapi.fresh_descriptors()


@cache
def committed() -> dict:
    return json.loads(openapi.DOCUMENT.read_text())


def operations(document: dict) -> dict[str, tuple[str, str, dict]]:
    return {
        operation["operationId"]: (path, verb, operation)
        for path, item in document["paths"].items()
        for verb, operation in item.items()
    }


def schema(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def test_the_committed_document_is_what_the_protos_give_now() -> None:
    assert openapi.DOCUMENT.read_text() == openapi.render(descriptors()), (
        "protos/openapi.json is stale: run make protos and commit it"
    )


def test_the_document_is_valid_openapi() -> None:
    validate(committed())


def test_the_validator_refuses_a_parameter_openapi_3_does_not_have() -> None:
    """The check above means something: Swagger 2's body parameter does not pass."""
    broken = copy.deepcopy(committed())
    broken["paths"]["/v1/booking/doctors/{doctor_id}"]["get"]["parameters"][0]["in"] = "body"
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_annotated_rpc_is_an_operation_and_no_internal_one_is() -> None:
    annotated, internal = set(), set()
    for file in descriptors().file:
        for service in file.service:
            for method in service.method:
                public = method.options.HasExtension(annotations_pb2.http)
                (annotated if public else internal).add(f"{service.name}_{method.name}")
    found = set(operations(committed()))
    assert found == annotated
    assert "PaymentService_CreatePayment" in internal
    assert not found & internal


def test_a_post_takes_its_body_without_the_fields_in_its_path() -> None:
    path, verb, retry = operations(committed())["BookingService_RetryCheckout"]
    assert (verb, path) == ("post", "/v1/booking/checkouts/{checkout_id}:retry")
    assert [(p["name"], p["in"]) for p in retry["parameters"]] == [("checkout_id", "path")]
    body = retry["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "checkoutId" not in body
    assert set(body) == {"idempotencyKey", "method"}


def test_a_get_takes_its_other_fields_as_query_parameters() -> None:
    path, verb, slots = operations(committed())["BookingService_ListSlots"]
    assert (verb, path) == ("get", "/v1/booking/doctors/{doctor_id}/slots")
    where = {parameter["name"]: parameter["in"] for parameter in slots["parameters"]}
    assert where["doctor_id"] == "path"
    assert where["page_token"] == where["starts_after"] == "query"
    assert "requestBody" not in slots


def test_messages_are_in_proto3_json_form() -> None:
    money = schema(committed(), "nobat.common.v1.Money")["properties"]
    # 64-bit integers are strings in JSON, so a JavaScript app loses no precision.
    assert money["amountMinor"]["type"] == "string"
    checkout = schema(committed(), "nobat.booking.v1.Checkout")["properties"]
    assert checkout["holdExpiresAt"]["format"] == "date-time"
    status = schema(committed(), "nobat.booking.v1.SlotStatus")
    assert "SLOT_STATUS_HELD" in status["enum"]


def test_a_stream_answers_a_json_array_of_its_messages() -> None:
    _, _, stream = operations(committed())["NotificationService_StreamNotifications"]
    answer = stream["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["type"] == "array"
    assert answer["items"]["$ref"].endswith("StreamNotificationsResponse")


def test_every_call_needs_a_bearer_token_and_errors_are_a_status_with_details() -> None:
    document = committed()
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    responses = document["components"]["responses"]
    for _, _, operation in operations(document).values():
        assert "security" not in operation
        for code in ("400", "401", "404", "429", "503", "default"):
            name = operation["responses"][code]["$ref"].rsplit("/", 1)[1]
            answer = responses[name]["content"]["application/json"]["schema"]
            assert answer == {"$ref": "#/components/schemas/google.rpc.Status"}
    status = schema(document, "google.rpc.Status")["properties"]
    assert status["details"]["items"]["required"] == ["@type"]
    # The details nobat sends are described, its own among them.
    for detail in ("google.rpc.BadRequest", "google.rpc.RetryInfo", "nobat.booking.v1.SlotHeld"):
        assert detail in document["components"]["schemas"]


def test_the_descriptor_set_carries_imports_comments_and_the_error_model() -> None:
    files = {file.name: file for file in descriptors().file}
    # Imports, so a gateway resolves every type without other files.
    assert {"google/api/http.proto", "google/protobuf/timestamp.proto"} <= set(files)
    # google.rpc's details, which the transcoder must know to print an error as JSON.
    assert "google/rpc/error_details.proto" in files
    booking = files["nobat/booking/v1/booking_service.proto"]
    assert any(place.leading_comments for place in booking.source_code_info.location)
