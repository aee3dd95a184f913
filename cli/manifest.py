"""The running stack as `make run` describes it in .data/stack.json, and callers' tokens
signed with the development keys kept beside it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runtime.auth import TokenKeys, mint_token

DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / ".data" / "stack.json"


def load_manifest(path: Path) -> dict:
    if not path.exists():
        sys.exit(f"no running nobat found ({path} is missing): start one with `make run`")
    return json.loads(path.read_text())


def token_for(manifest: dict, subject: str, role: str, ttl: float = 300.0) -> str:
    """A bearer token for `subject` in `role`, signed with the stack's keys."""
    keys = TokenKeys(**json.loads(Path(manifest["keys"]).read_text()))
    return mint_token(keys, subject, role, ttl)
