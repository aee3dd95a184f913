"""Lint and format-check the protos with buf, offline (run: python protos/lint.py).

buf cannot resolve google/api imports without the BSR, so protoc (with the pip-installed
googleapis) builds an image and buf lints that image, limited to our files. Formatting
needs no imports, so buf checks the sources directly.

    python protos/lint.py                 buf lint, then buf format --diff --exit-code
    python protos/lint.py breaking [REF]  also buf breaking against protos/ at git REF (main)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from generate import PROTOS, ROOT, run_protoc

BUF_YAML = ROOT / "buf.yaml"


def buf() -> str:
    beside_python = Path(sys.executable).parent / "buf"
    found = str(beside_python) if beside_python.exists() else shutil.which("buf")
    if found is None:
        sys.exit("buf not found: install buf-bin")
    return found


def build_image(protos: Path, image: Path) -> Path:
    """A buf image (FileDescriptorSet with imports and comments) of a protos/ tree."""
    run_protoc(
        ["--include_imports", "--include_source_info", f"--descriptor_set_out={image}"], protos
    )
    return image


def checkout_protos(ref: str, out: Path) -> Path:
    """protos/nobat as committed at a git ref, extracted under out."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "protos/nobat"], cwd=ROOT, capture_output=True
    )
    if archive.returncode != 0:
        sys.exit(f"cannot read protos/nobat at {ref!r}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(out, filter="data")
    return out / "protos"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["lint", "breaking"], default="lint")
    parser.add_argument("ref", nargs="?", default="main", help="git ref to compare against")
    args = parser.parse_args()
    config = ["--config", str(BUF_YAML)]
    with tempfile.TemporaryDirectory(prefix="nobat-buf-") as tmp:
        image = build_image(PROTOS, Path(tmp) / "image.binpb")
        checks = [
            [buf(), "lint", str(image), "--path", "nobat", *config],
            [buf(), "format", "protos", "--diff", "--exit-code"],
        ]
        if args.command == "breaking":
            old = build_image(checkout_protos(args.ref, Path(tmp)), Path(tmp) / "against.binpb")
            against = ["--against", str(old), "--against-config", str(BUF_YAML)]
            checks.append([buf(), "breaking", str(image), *against, "--path", "nobat", *config])
        failed = [check[1] for check in checks if subprocess.run(check, cwd=ROOT).returncode]
    for name in failed:
        print(f"buf {name} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
