"""The metrics nobat documents (deploy/README.md, "Metrics") and the ones its code
registers: the one list the monitoring tests and the end-to-end scrape check."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache

from prometheus_client import REGISTRY

from tests.deploy.contract import ROOT, SERVICES
from tests.deploy.manifests import DEPLOY

_ROW = re.compile(r"^\| `(nobat_\w+)` \| (\w+) \| (\w+) \|\s*([\w, ]*?)\s*\|", re.MULTILINE)
# The series each type of metric puts in a scrape, by suffix (a counter is named with
# its `_total`, as the README and PromQL name it).
_SERIES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    # The service that exports it, or "all".
    service: str
    labels: frozenset[str]

    @property
    def series(self) -> frozenset[str]:
        """The names it appears under in a scrape and in PromQL."""
        return frozenset(self.name + suffix for suffix in _SERIES[self.type])


def readme_section(title: str) -> str:
    readme = (DEPLOY / "README.md").read_text()
    return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


@cache
def documented() -> dict[str, Metric]:
    """The table of deploy/README.md's "Metrics" section."""
    return {
        name: Metric(name, kind, service, frozenset(filter(None, re.split(r",\s*", labels))))
        for name, kind, service, labels in _ROW.findall(readme_section("Metrics"))
    }


@cache
def documented_values(name: str) -> frozenset[str]:
    """The label values the README's row for `name` spells out (`accepted`, ...)."""
    [row] = [line for line in readme_section("Metrics").splitlines() if f"| `{name}` |" in line]
    return frozenset(re.findall(r"`(\w+)`", row.rsplit("|", 2)[1]))


@cache
def registered() -> dict[str, Metric]:
    """Every nobat_ metric the four services' code registers when it is loaded, with the
    service whose package declares it ("all" for runtime's)."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.bootstrap")
    found = {}
    for collector in list(REGISTRY._collector_to_names):
        # Only the metrics nobat declares describe themselves; the process collectors
        # (GC, platform) do not, and export no nobat_ metric.
        for family in getattr(collector, "describe", list)():
            if not family.name.startswith("nobat_"):
                continue
            name = family.name + ("_total" if family.type == "counter" else "")
            # The label names a metric was declared with (prometheus-client 0.26 keeps them
            # here; a family without children has no samples to read them from).
            labels = frozenset(getattr(collector, "_labelnames", ()))
            found[name] = Metric(name, family.type, _declared_by(name), labels)
    return found


def _declared_by(name: str) -> str:
    for package in ("runtime", *(f"services/{service}" for service in SERVICES)):
        if any(f'"{name}"' in path.read_text() for path in (ROOT / package).rglob("*.py")):
            return package.removeprefix("services/") if package != "runtime" else "all"
    raise AssertionError(f"{name} is registered, but declared nowhere in runtime or services")


def all_series() -> dict[str, Metric]:
    """Each series name a scrape or a query may use, to the metric it belongs to."""
    return {series: metric for metric in registered().values() for series in metric.series}
