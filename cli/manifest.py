"""The running stack as `make run` describes it in .data/stack.json, and users' tokens
signed as its stand-in identity provider signs them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runtime.auth import TokenKeys
from stack.identity import user_token

DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / ".data" / "stack.json"


def load_manifest(path: Path) -> dict:
    if not path.exists():
        sys.exit(f"no running nobat found ({path} is missing): start one with `make run`")
    return json.loads(path.read_text())


def token_for(manifest: dict, subject: str, role: str, ttl: float = 300.0) -> str:
    """A bearer token for user `subject` in `role`, as the identity provider signs it."""
    keys = TokenKeys(**json.loads(Path(manifest["identity"]).read_text()))
    return user_token(keys, subject, role, ttl)
