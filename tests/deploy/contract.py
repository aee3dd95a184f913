"""What the services need from their environment: the one list the deploy tests check.

Most of it is read from the code. Every `env.str("NOBAT_…")` (or .int, .float, .bool)
without a default in runtime/ or in a service's package is a required setting of that
service, so a setting someone adds to the code is checked against the manifests at once.
The rest is declared below: settings the issues promise and the code does not read yet,
which settings are secrets, and which services may hold the token-signing key.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("payment", "booking", "consultation", "notification")

# Promised to these services, read by code still to come. Once the code reads one of
# them, discovery finds it too; the entry can then go.
DECLARED_REQUIRED: dict[str, frozenset[str]] = {
    "payment": frozenset(
        {"NOBAT_GATEWAY_API_KEY", "NOBAT_GATEWAY_WEBHOOK_SECRET", "NOBAT_GATEWAY_BASE_URL"}
    ),
    "booking": frozenset({"NOBAT_PAYMENT_ADDRESS", "NOBAT_SERVICE_SIGNING_KEY"}),
    "consultation": frozenset({"NOBAT_PAYMENT_ADDRESS", "NOBAT_SERVICE_SIGNING_KEY"}),
    "notification": frozenset(),
}
DECLARED_DEFAULTS: dict[str, str] = {"NOBAT_WEBHOOK_PORT": "8080"}

# Never a literal value in a manifest: always a secretKeyRef.
SECRETS = frozenset(
    {
        "NOBAT_DATABASE_URL",
        "NOBAT_NATS_URL",
        "NOBAT_SERVICE_SIGNING_KEY",
        "NOBAT_GATEWAY_API_KEY",
        "NOBAT_GATEWAY_WEBHOOK_SECRET",
    }
)
# A signing key goes only to the services that call payment, each its own.
SIGNING_KEY = "NOBAT_SERVICE_SIGNING_KEY"
SIGNERS = frozenset({"booking", "consultation"})

_GETTERS = {"str", "int", "float", "bool", "seconds"}


@dataclass
class Settings:
    """The NOBAT_* settings some code reads: required names and defaults of the others."""

    required: set[str] = field(default_factory=set)
    defaults: dict[str, str] = field(default_factory=dict)

    def update(self, other: Settings) -> None:
        self.required |= other.required
        self.defaults.update(other.defaults)


def settings_read_by(paths: list[Path]) -> Settings:
    found = Settings()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _GETTERS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).startswith("NOBAT_")
            ):
                continue
            name = node.args[0].value
            default = node.args[1] if len(node.args) > 1 else None
            default = default or next((k.value for k in node.keywords if k.arg == "default"), None)
            if default is None:
                found.required.add(name)
            elif isinstance(default, ast.Constant) and default.value is not None:
                found.defaults[name] = str(default.value)
    return found


def _python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


@cache
def serve_settings(service: str) -> Settings:
    """What `python -m services.<service> serve` reads: runtime's settings and its own."""
    settings = Settings(defaults=dict(DECLARED_DEFAULTS))
    settings.update(settings_read_by(_python_files(ROOT / "runtime")))
    settings.update(settings_read_by(_python_files(ROOT / "services" / service)))
    settings.required |= DECLARED_REQUIRED[service]
    return settings


@cache
def migrate_settings() -> Settings:
    """What `migrate` reads: the entry point reads only the database URL before it."""
    return settings_read_by([ROOT / "runtime" / "entry.py"])
