"""nobat-api, the wheel other Python services install to call nobat (`make api-wheel`):
every generated module with its .pyi, and stubs a type checker holds callers to."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "protos"))
from generate import proto_files  # noqa: E402  (a script's module, by bare name)

# A service of someone else's, written against the wheel alone.
CALLER = textwrap.dedent(
    """
    import grpc
    from nobat.payment.v1 import payment_service_pb2 as pb
    from nobat.payment.v1 import payment_service_pb2_grpc

    async def payment_of(channel: grpc.aio.Channel, payment_id: str) -> str:
        stub = payment_service_pb2_grpc.PaymentServiceStub(channel)
        reply = await stub.GetPayment(pb.GetPaymentRequest(payment_id=payment_id))
        return reply.payment.status_label

    def mistaken(channel: grpc.aio.Channel) -> None:
        pb.GetPaymentRequest(payment_id=42)
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # What `make api-wheel` runs.
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", str(ROOT / "protos" / "python"), "-w", str(out)),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("nobat_api-*.whl")
    return found


def test_wheel_holds_every_generated_module_with_its_types(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "nobat/py.typed" in names
    for proto in proto_files():
        module = proto.removesuffix(".proto") + "_pb2"
        assert {f"{module}.py", f"{module}.pyi"} <= names, proto
    services = {name for name in names if name.endswith("_pb2_grpc.py")}
    assert services, "no gRPC stubs in the wheel"
    assert {name + "i" for name in services} <= names
    (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
    requires = Parser().parsestr(zipfile.ZipFile(wheel).read(metadata).decode())
    needs = {Requirement(line).name for line in requires.get_all("Requires-Dist")}
    assert needs >= {"grpcio", "protobuf"}


def test_a_caller_is_type_checked_against_the_wheel(wheel: Path, tmp_path: Path) -> None:
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)  # a pure wheel: unpacking is installing
    (tmp_path / "caller.py").write_text(CALLER)
    checked = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--no-incremental", "--python-version", "3.11"),
            *("--config-file", "/dev/null", "caller.py"),
        ],
        cwd=tmp_path,
        env={"MYPYPATH": str(installed), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    # The field that does not exist and the id given as a number; nothing else.
    assert len(errors) == 2, checked.stdout
    assert '"status_label"' in errors[0] and "caller.py:9:" in errors[0]
    assert '"payment_id"' in errors[1] and "caller.py:12:" in errors[1]
