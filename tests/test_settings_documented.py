"""Every setting a service reads is in the README's configuration tables, so the tables
cannot drift from the code: a setting added without its row fails here, by name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where the services' settings are read: their composition roots and what those call.
READ_IN = ("runtime", "services", "clients", "purchasing")
SETTING = re.compile(r"NOBAT_[A-Z0-9_]+")


def settings_read() -> set[str]:
    """Every NOBAT_* name written out whole in the services' code (a setting's name is a
    literal wherever it is read, so none hides in a format string)."""
    return {
        node.value
        for package in READ_IN
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SETTING.fullmatch(node.value)
    }


def test_the_scan_finds_settings_every_service_reads():
    found = settings_read()
    assert {
        "NOBAT_DATABASE_URL",
        "NOBAT_BOOKING_HOLD_SECONDS",
        "NOBAT_CONSULTATION_SESSION_SECONDS",
        "NOBAT_PAYMENT_TTL_SECONDS",
        "NOBAT_NOTIFICATION_SMTP_HOST",
        "NOBAT_IDEMPOTENCY_KEEP_SECONDS",
    } <= found


def test_every_setting_a_service_reads_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    configuration = readme[readme.index("## Configuration") : readme.index("## Benchmark")]
    documented = set(SETTING.findall(configuration))
    assert sorted(settings_read() - documented) == []
