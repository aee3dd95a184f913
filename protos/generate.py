"""Generate the Python gRPC code for protos/nobat into gen/ (run: python protos/generate.py).

In-process protoc calls compile everything into a staging directory next to gen/, which
then replaces gen/ by two renames, so readers never see a half-written tree. google/*
imports are compiled against but not generated: googleapis-common-protos and protobuf
ship them.

gen/nobat.binpb is the descriptor set API gateways read (Envoy's gRPC-JSON transcoder,
APISIX, Kong): every file of ours with its imports and comments, plus google.rpc's
status and error details, which our files never import but a gateway needs to turn an
error's details into JSON.

Every generated module gets a .pyi from mypy-protobuf (a dev dependency), the gRPC stubs'
included, and gen/nobat is marked py.typed: protos/python packages gen/ as nobat-api, the
typed client other Python services install. The image builds without the dev
dependencies and has no use for types: it runs `generate.py --no-types`.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

PROTOS = Path(__file__).resolve().parent
ROOT = PROTOS.parent
GEN = ROOT / "gen"
DESCRIPTOR_SET = "nobat.binpb"
# What a gateway needs beyond our files' own imports to print an error as JSON.
ERROR_MODEL = ("google/rpc/status.proto", "google/rpc/error_details.proto")


def include_paths(protos: Path = PROTOS) -> list[Path]:
    """Our protos, googleapis (google/api, google/type) and the well-known types."""
    spec = importlib.util.find_spec("google.api")
    locations = spec.submodule_search_locations if spec else None
    googleapis = [
        Path(location).parent.parent
        for location in locations or ()
        if (Path(location) / "annotations.proto").is_file()
    ]
    if not googleapis:
        sys.exit("google/api/annotations.proto not found: install googleapis-common-protos")
    well_known = Path(str(importlib.resources.files("grpc_tools") / "_proto"))
    return [protos, googleapis[0], well_known]


def proto_files(protos: Path = PROTOS) -> list[str]:
    """Every .proto of ours, relative to protos/, in a stable order."""
    return sorted(str(path.relative_to(protos)) for path in (protos / "nobat").rglob("*.proto"))


def run_protoc(options: Sequence[str], protos: Path = PROTOS, extra: Sequence[str] = ()) -> None:
    """Compiles all the files of a protos/ tree (and `extra` files from the include path)
    in this process; protoc prints its errors."""
    includes = [f"-I{path}" for path in include_paths(protos)]
    if protoc.main(["protoc", *includes, *options, *proto_files(protos), *extra]) != 0:
        sys.exit("protoc failed")


def build_descriptor_set(out: Path, protos: Path = PROTOS) -> Path:
    """The gateways' descriptor set (module docstring) of a protos/ tree, written to out."""
    run_protoc(
        ["--include_imports", "--include_source_info", f"--descriptor_set_out={out}"],
        protos,
        extra=ERROR_MODEL,
    )
    return out


def drop_empty_grpc_modules(out: Path, descriptors: Path) -> None:
    """grpc_tools (and mypy-protobuf) write a *_pb2_grpc module for every file; keep those
    that have a service."""
    ours = set(proto_files())
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes()).file:
        if file.name in ours and not file.service:
            for suffix in (".py", ".pyi"):
                (out / (file.name.removesuffix(".proto") + "_pb2_grpc" + suffix)).unlink(
                    missing_ok=True
                )


def type_stub_options(out: Path) -> list[str]:
    """protoc options for mypy-protobuf's .pyi. Its plugins are scripts beside this
    Python, which need not be on PATH (`.venv/bin/python protos/generate.py`)."""
    scripts = Path(sysconfig.get_path("scripts"))
    plugins = {name: scripts / f"protoc-gen-{name}" for name in ("mypy", "mypy_grpc")}
    missing = [str(path) for path in plugins.values() if not path.is_file()]
    if missing:
        sys.exit(
            f"{', '.join(missing)} not found: install the dev dependencies (mypy-protobuf), "
            "or generate without types (--no-types)"
        )
    options = [f"--plugin=protoc-gen-{name}={path}" for name, path in plugins.items()]
    # quiet: no line per file written.
    return [*options, f"--mypy_out=quiet:{out}", f"--mypy_grpc_out=quiet:{out}"]


def generate(types: bool = True) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".gen-staging-", dir=ROOT))
    retired = staging.with_name(staging.name.replace("staging", "retired"))
    try:
        descriptors = build_descriptor_set(staging / DESCRIPTOR_SET)
        options = [f"--python_out={staging}", f"--grpc_python_out={staging}"]
        run_protoc(options + (type_stub_options(staging) if types else []))
        drop_empty_grpc_modules(staging, descriptors)
        for package in [staging / "nobat", *(staging / "nobat").rglob("*/")]:
            (package / "__init__.py").touch()
        if types:
            # PEP 561: type checkers read the .pyi of an installed nobat-api.
            (staging / "nobat" / "py.typed").touch()
        if GEN.exists():
            GEN.rename(retired)
        staging.rename(GEN)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)


if __name__ == "__main__":
    generate(types="--no-types" not in sys.argv[1:])
