"""The layers hold: a service's domain and handlers load no database library and none of
the service's adapters, so the use cases run on an in-memory unit of work and the domain
is plain Python. Each layer is imported in a fresh interpreter, which sees only what that
layer pulls in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVICES = ("booking", "consultation", "notification", "payment")
STORAGE = ("sqlalchemy", "asyncpg", "alembic")

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.iter_modules(package.__path__):
    importlib.import_module(f"{sys.argv[1]}.{module.name}")
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(package: str) -> list[str]:
    answer = subprocess.run(
        [sys.executable, "-c", PROBE, package], capture_output=True, text=True, check=True
    )
    return json.loads(answer.stdout)


@pytest.mark.parametrize("layer", ["domain", "handlers"])
@pytest.mark.parametrize("service", SERVICES)
def test_domain_and_handlers_load_no_database_library_and_no_adapter(service: str, layer: str):
    loaded = loaded_by(f"services.{service}.{layer}")
    assert [m for m in loaded if m.split(".")[0] in STORAGE] == []
    assert [m for m in loaded if m.startswith(f"services.{service}.adapters")] == []
