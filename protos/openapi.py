"""The OpenAPI 3 document of nobat's public RPCs, from the descriptor set
(run: python protos/openapi.py [DESCRIPTOR_SET] [--check]).

Public RPCs are those with a google.api.http annotation; each binding becomes an
operation as a gRPC-JSON transcoder (Envoy's, grpc-gateway) serves it: fields named in
the path template are path parameters, the body is the request message ("*") or one of
its fields, a GET's other fields are query parameters, and messages are printed in
proto3's JSON mapping (lowerCamelCase names, 64-bit integers as strings, enums by name).
Errors are google.rpc.Status with its details, at the HTTP status the transcoder maps
the gRPC code to. Descriptions are the protos' own comments.

Without DESCRIPTOR_SET a fresh one is built from protos/; --check exits 1 if
protos/openapi.json differs from what the protos give (tests/unit/test_openapi.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from generate import PROTOS, build_descriptor_set
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

DOCUMENT = PROTOS / "openapi.json"
Field = descriptor_pb2.FieldDescriptorProto

# The details nobat's errors carry (runtime/rpc.py and the services' ErrorDetails): the
# schemas an app may find in Status.details, by their "@type".
ERROR_DETAILS = (
    "google.rpc.ErrorInfo",
    "google.rpc.BadRequest",
    "google.rpc.PreconditionFailure",
    "google.rpc.QuotaFailure",
    "google.rpc.RetryInfo",
    "google.rpc.RequestInfo",
    "nobat.booking.v1.SlotHeld",
    "nobat.payment.v1.WalletShortfall",
)

# How Envoy's transcoder answers each gRPC code (grpcToHttpStatus), grouped by status.
ERROR_STATUSES = {
    "400": "INVALID_ARGUMENT (a BadRequest detail names each field), FAILED_PRECONDITION "
    "(the state forbids it; a detail may say why) or OUT_OF_RANGE",
    "401": "UNAUTHENTICATED: no bearer token, or one nobat does not believe",
    "403": "PERMISSION_DENIED: the token's role may not make this call",
    "404": "NOT_FOUND: it does not exist, or it is not the caller's",
    "409": "ALREADY_EXISTS, or ABORTED: contention worth retrying with the same idempotency key",
    "429": "RESOURCE_EXHAUSTED: a limit was reached; RetryInfo says when to try again",
    "503": "UNAVAILABLE: retry with backoff (and, for a POST, the same idempotency key)",
    "504": "DEADLINE_EXCEEDED: retry as for 503",
}

_SCALARS = {
    Field.TYPE_DOUBLE: {"type": "number", "format": "double"},
    Field.TYPE_FLOAT: {"type": "number", "format": "float"},
    Field.TYPE_INT32: {"type": "integer", "format": "int32"},
    Field.TYPE_SINT32: {"type": "integer", "format": "int32"},
    Field.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    Field.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    Field.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # proto3 JSON prints 64-bit integers as strings: JavaScript numbers lose precision.
    Field.TYPE_INT64: {"type": "string", "format": "int64"},
    Field.TYPE_SINT64: {"type": "string", "format": "int64"},
    Field.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    Field.TYPE_UINT64: {"type": "string", "format": "uint64"},
    Field.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    Field.TYPE_BOOL: {"type": "boolean"},
    Field.TYPE_STRING: {"type": "string"},
    Field.TYPE_BYTES: {"type": "string", "format": "byte"},
}

# Well-known types with a JSON form of their own (proto3 JSON mapping).
_WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "Seconds with an s suffix, such as 600s or 1.5s.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated lowerCamelCase field paths, such as displayName,fee.",
    },
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Any": {
        "type": "object",
        "description": "A message of the type its @type names, with its fields beside it.",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    **{
        f"google.protobuf.{name}Value": {**_SCALARS[kind], "nullable": True}
        for name, kind in [
            ("Double", Field.TYPE_DOUBLE),
            ("Float", Field.TYPE_FLOAT),
            ("Int64", Field.TYPE_INT64),
            ("UInt64", Field.TYPE_UINT64),
            ("Int32", Field.TYPE_INT32),
            ("UInt32", Field.TYPE_UINT32),
            ("Bool", Field.TYPE_BOOL),
            ("String", Field.TYPE_STRING),
            ("Bytes", Field.TYPE_BYTES),
        ]
    },
}

# Source-code-info path components (descriptor.proto's field numbers).
_MESSAGES, _ENUMS, _SERVICES = 4, 5, 6
_FIELDS, _NESTED, _NESTED_ENUMS, _VALUES, _METHODS = 2, 3, 4, 2, 2


class Contract:
    """The messages, enums, comments and public RPCs of a descriptor set."""

    def __init__(self, descriptors: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[tuple, str] = {}
        self.files = list(descriptors.file)
        for file in self.files:
            locations = {tuple(place.path): place for place in file.source_code_info.location}
            self._index(f".{file.package}", file.message_type, file.enum_type, (), locations)
            for i, service in enumerate(file.service):
                self._comment(("service", file.package, service.name), locations, (_SERVICES, i))
                for j, method in enumerate(service.method):
                    where = ("method", file.package, service.name, method.name)
                    self._comment(where, locations, (_SERVICES, i, _METHODS, j))

    def _comment(self, key: tuple, locations: dict, path: tuple) -> None:
        place = locations.get(path)
        text = place.leading_comments.strip() if place else ""
        if text:
            # A comment's lines are hard-wrapped prose; a blank line starts a paragraph.
            paragraphs = re.split(r"\n\s*\n", text)
            self.comments[key] = "\n\n".join(
                " ".join(line.strip() for line in paragraph.splitlines())
                for paragraph in paragraphs
            )

    def _index(self, scope, messages, enums, path, locations) -> None:
        message_path = (*path, _NESTED) if path else (_MESSAGES,)
        enum_path = (*path, _NESTED_ENUMS) if path else (_ENUMS,)
        for i, enum in enumerate(enums):
            name = f"{scope}.{enum.name}"
            self.enums[name] = enum
            self._comment(("type", name), locations, (*enum_path, i))
            for k, value in enumerate(enum.value):
                self._comment(("value", name, value.name), locations, (*enum_path, i, _VALUES, k))
        for i, message in enumerate(messages):
            name = f"{scope}.{message.name}"
            self.messages[name] = message
            here = (*message_path, i)
            self._comment(("type", name), locations, here)
            for k, field in enumerate(message.field):
                self._comment(("field", name, field.name), locations, (*here, _FIELDS, k))
            self._index(name, message.nested_type, message.enum_type, here, locations)

    def public_methods(self) -> Iterator[tuple[str, str, descriptor_pb2.MethodDescriptorProto]]:
        """(package, service, method) of every RPC with a google.api.http annotation."""
        for file in self.files:
            for service in file.service:
                for method in service.method:
                    if method.options.HasExtension(annotations_pb2.http):
                        yield file.package, service.name, method


def bindings(rule: http_pb2.HttpRule) -> Iterator[tuple[str, str, str]]:
    """(HTTP method, path template, body) of a rule and its additional bindings."""
    for each in [rule, *rule.additional_bindings]:
        kind = each.WhichOneof("pattern")
        if kind == "custom":
            yield each.custom.kind.lower(), each.custom.path, each.body
        else:
            yield kind, getattr(each, kind), each.body


def path_fields(template: str) -> list[str]:
    """The field paths a template binds: {doctor_id}, {payment.id=payments/*}."""
    return [match.split("=")[0] for match in re.findall(r"\{([^}]+)\}", template)]


def openapi_path(template: str) -> str:
    return re.sub(r"\{([^}=]+)(=[^}]*)?\}", r"{\1}", template)


class Builder:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.schemas: dict[str, dict] = {}

    def ref(self, type_name: str) -> dict:
        name = type_name.lstrip(".")
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.schemas:
            self.schemas[name] = {}  # reserved first: messages may refer to themselves
            self.schemas[name] = self._define(name)
        return {"$ref": f"#/components/schemas/{name}"}

    def _define(self, name: str) -> dict:
        dotted = f".{name}"
        if dotted in self.contract.enums:
            enum = self.contract.enums[dotted]
            values = [value.name for value in enum.value]
            described = [
                f"- {value}: {self.contract.comments[('value', dotted, value)]}"
                for value in values
                if ("value", dotted, value) in self.contract.comments
            ]
            text = "\n".join([self.contract.comments.get(("type", dotted), ""), *described])
            return self._described({"type": "string", "enum": values}, text.strip())
        message = self.contract.messages[dotted]
        schema = {"type": "object", "properties": self.properties(dotted, message, exclude=())}
        return self._described(schema, self.contract.comments.get(("type", dotted), ""))

    def properties(self, scope: str, message, exclude) -> dict:
        return {
            field.json_name: self._described(
                self.field(message, field),
                self.contract.comments.get(("field", scope, field.name), ""),
            )
            for field in message.field
            if field.name not in exclude
        }

    def field(self, message, field: Field) -> dict:
        if field.type == Field.TYPE_MESSAGE:
            entry = self.contract.messages.get(field.type_name)
            if entry is not None and entry.options.map_entry:
                value = next(part for part in entry.field if part.name == "value")
                return {"type": "object", "additionalProperties": self.field(entry, value)}
            single = self.ref(field.type_name)
        elif field.type == Field.TYPE_ENUM:
            single = self.ref(field.type_name)
        else:
            single = dict(_SCALARS[field.type])
        if field.label == Field.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    @staticmethod
    def _described(schema: dict, text: str) -> dict:
        if not text:
            return schema
        if "$ref" in schema:
            # OpenAPI 3.0 ignores a $ref's siblings; allOf keeps the field's own comment.
            return {"allOf": [schema], "description": text}
        return {**schema, "description": text}

    def query_parameters(self, scope: str, prefix: str, seen: tuple) -> Iterator[dict]:
        """A GET's fields as query parameters (proto names, dotted into messages); the
        transcoder accepts a repeated field's values as the parameter given again."""
        message = self.contract.messages[scope]
        for field in message.field:
            name = f"{prefix}{field.name}"
            nested = self.contract.messages.get(field.type_name)
            if (
                field.type == Field.TYPE_MESSAGE
                and field.type_name.lstrip(".") not in _WELL_KNOWN
                and nested is not None
                and not nested.options.map_entry
            ):
                if field.type_name not in seen:
                    deeper = (*seen, field.type_name)
                    yield from self.query_parameters(field.type_name, f"{name}.", deeper)
                continue
            text = self.contract.comments.get(("field", scope, field.name))
            yield {
                "name": name,
                "in": "query",
                "required": False,
                **({"description": text} if text else {}),
                "schema": self.field(message, field),
            }

    def operation(self, package, service, method, verb, template, body) -> dict:
        contract = self.contract
        request_name = method.input_type
        request = contract.messages[request_name]
        bound = path_fields(template)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in bound
        ]
        operation: dict = {
            "operationId": f"{service}_{method.name}",
            "tags": [service],
        }
        described = contract.comments.get(("method", package, service, method.name))
        if described:
            operation["description"] = described
        if not body:
            bound_tops = {name.split(".")[0] for name in bound}
            parameters += [
                parameter
                for parameter in self.query_parameters(request_name, "", (request_name,))
                if parameter["name"].split(".")[0] not in bound_tops
            ]
        if parameters:
            operation["parameters"] = parameters
        if body == "*":
            tops = {name.split(".")[0] for name in bound}
            if tops:
                schema = {
                    "type": "object",
                    "properties": self.properties(request_name, request, tops),
                }
            else:
                schema = self.ref(request_name)
            operation["requestBody"] = {"required": True, "content": _json(schema)}
        elif body:
            field = next(field for field in request.field if field.name == body)
            operation["requestBody"] = {
                "required": True,
                "content": _json(self.field(request, field)),
            }
        answer = self.ref(method.output_type)
        if method.server_streaming:
            text = (
                "A live stream: one JSON array whose elements arrive as the server sends "
                "them, until it ends the stream."
            )
            answer = {"type": "array", "items": answer}
        else:
            text = "OK"
        operation["responses"] = {
            "200": {"description": text, "content": _json(answer)},
            **{code: {"$ref": f"#/components/responses/Error{code}"} for code in ERROR_STATUSES},
            "default": {"$ref": "#/components/responses/Error"},
        }
        return operation


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def document(descriptors: descriptor_pb2.FileDescriptorSet) -> dict:
    contract = Contract(descriptors)
    builder = Builder(contract)
    paths: dict[str, dict] = {}
    services: dict[str, str] = {}
    for package, service, method in contract.public_methods():
        services[service] = contract.comments.get(("service", package, service), "")
        rule = method.options.Extensions[annotations_pb2.http]
        for verb, template, body in bindings(rule):
            operation = builder.operation(package, service, method, verb, template, body)
            paths.setdefault(openapi_path(template), {})[verb] = operation
    status = builder.ref(".google.rpc.Status")
    details = [builder.ref(f".{name}")["$ref"] for name in ERROR_DETAILS]
    error = {
        "content": _json(status),
        "description": "A google.rpc.Status: the gRPC code (a number), a message for "
        "developers and details, each an object whose @type is one of "
        + ", ".join(f"type.googleapis.com/{name}" for name in ERROR_DETAILS)
        + " (their schemas are under components.schemas).",
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "nobat",
            "version": "v1",
            "description": "nobat's public API as JSON over HTTP, served by a gRPC-JSON "
            "transcoding gateway (deploy/gateway). Every call needs a bearer JWT from the "
            "clinic's identity provider. Every mutating call takes an idempotencyKey: the "
            "same key with the same request returns the first answer, so a POST may be "
            "retried safely with its key.",
        },
        "servers": [{"url": "https://api.clinic.example"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": name, **({"description": text} if text else {})}
            for name, text in services.items()
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "responses": {
                "Error": error,
                **{
                    f"Error{code}": {**error, "description": text}
                    for code, text in ERROR_STATUSES.items()
                },
            },
            "schemas": {
                **dict(sorted(builder.schemas.items())),
                "ErrorDetail": {"oneOf": [{"$ref": ref} for ref in details]},
            },
        },
    }


def render(descriptors: descriptor_pb2.FileDescriptorSet) -> str:
    return json.dumps(document(descriptors), indent=2, ensure_ascii=False) + "\n"


def fresh_descriptors() -> descriptor_pb2.FileDescriptorSet:
    with tempfile.TemporaryDirectory(prefix="nobat-openapi-") as tmp:
        built = build_descriptor_set(Path(tmp) / "nobat.binpb")
        return descriptor_pb2.FileDescriptorSet.FromString(built.read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("descriptor_set", nargs="?", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.descriptor_set:
        descriptors = descriptor_pb2.FileDescriptorSet.FromString(args.descriptor_set.read_bytes())
    else:
        descriptors = fresh_descriptors()
    text = render(descriptors)
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT} is stale: run make protos", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
