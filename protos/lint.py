"""Lint, format-check and compatibility-check the protos with buf, offline
(run: python protos/lint.py).

buf cannot resolve google/api imports without the BSR, so protoc (with the pip-installed
googleapis) builds an image and buf checks that image, limited to our files. Formatting
needs no imports, so buf checks the sources directly.

    python protos/lint.py                 buf lint, then buf format --diff --exit-code
    python protos/lint.py breaking [REF]  buf breaking against protos/ at git REF; without
                                          REF, against the last release (protos/CHANGELOG.md)

A release of the contract is an annotated tag protos/vMAJOR.MINOR.PATCH; the last one
reachable from HEAD is what `make lint` and `make test` compare with. Events stay in
JetStream for 30 days and are replayed, so a wire break breaks replay as well as callers.
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

from generate import PROTOS, ROOT
from generate import build_descriptor_set as build_image

BUF_YAML = ROOT / "buf.yaml"
RELEASE_TAGS = "protos/v*"


def buf() -> str:
    beside_python = Path(sys.executable).parent / "buf"
    found = str(beside_python) if beside_python.exists() else shutil.which("buf")
    if found is None:
        sys.exit("buf not found: install buf-bin")
    return found


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


def last_release(repo: Path = ROOT) -> str | None:
    """The newest annotated protos/v* tag reachable from HEAD, or None. Lightweight tags
    are not releases; a shallow clone without tags has none."""
    described = subprocess.run(
        ["git", "describe", "--match", RELEASE_TAGS, "--abbrev=0", "HEAD"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    return described.stdout.strip() if described.returncode == 0 else None


def breaking(current: Path, previous: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """buf breaking (FILE rules, buf.yaml) of the protos/ tree `current` against the tree
    `previous`; its findings are in the output."""
    image = build_image(tmp / "current.binpb", current)
    against = build_image(tmp / "previous.binpb", previous)
    config = ["--config", str(BUF_YAML), "--against-config", str(BUF_YAML)]
    return subprocess.run(
        [buf(), "breaking", str(image), "--against", str(against), "--path", "nobat", *config],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def lint() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="nobat-buf-") as tmp:
        image = build_image(Path(tmp) / "image.binpb")
        checks = {
            "lint": [buf(), "lint", str(image), "--path", "nobat", "--config", str(BUF_YAML)],
            "format": [buf(), "format", "protos", "--diff", "--exit-code"],
        }
        return [
            name for name, check in checks.items() if subprocess.run(check, cwd=ROOT).returncode
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["lint", "breaking"], default="lint")
    parser.add_argument("ref", nargs="?", help="git ref to compare against (breaking)")
    args = parser.parse_args()
    if args.command == "lint":
        failed = lint()
    else:
        ref = args.ref or last_release()
        if ref is None:
            print(
                f"buf breaking skipped: no release tag ({RELEASE_TAGS}, annotated) is reachable"
                " from HEAD to compare with; see protos/CHANGELOG.md, 'Releases'",
                file=sys.stderr,
            )
            return 0
        with tempfile.TemporaryDirectory(prefix="nobat-buf-") as tmp:
            done = breaking(PROTOS, checkout_protos(ref, Path(tmp)), Path(tmp))
        print(done.stdout + done.stderr, end="")
        print(f"buf breaking against {ref}: {'failed' if done.returncode else 'ok'}")
        failed = ["breaking"] if done.returncode else []
    for name in failed:
        print(f"buf {name} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
