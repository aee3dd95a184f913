"""Configuration from the environment, read once in a service's composition root.

Nothing reads the environment at import time: a composition root calls `Env()` and
asks for what it needs, so a missing setting fails at start-up with its name.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TypeVar

T = TypeVar("T")

_MISSING = object()

# Set only by the local stack on a developer's machine (stack/local.py): it lets return
# URLs and webhooks use plain http and loopback addresses. No deploy/ overlay sets it.
DEVELOPMENT = "NOBAT_DEVELOPMENT"


class MissingSetting(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"required setting {name} is not set")
        self.name = name


class InvalidSetting(RuntimeError):
    def __init__(self, name: str, value: str, why: str) -> None:
        super().__init__(f"setting {name}={value!r} is invalid: {why}")
        self.name = name


class Env:
    """Typed access to NOBAT_* settings; every lookup names the variable on failure."""

    # Annotations say builtins.str and so on: inside this class `str` is the method.

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def str(self, name: builtins.str, default: object = _MISSING) -> builtins.str:
        return self._get(name, default, lambda raw: raw)

    def int(self, name: builtins.str, default: object = _MISSING) -> builtins.int:
        return self._get(name, default, int)

    def limit(self, name: builtins.str, default: object = _MISSING) -> builtins.int:
        """How many of something are allowed: a whole number, at least 1 (0 would refuse
        everyone, which is no limit an operator means)."""

        def parse(raw: builtins.str) -> builtins.int:
            value = int(raw)
            if value < 1:
                raise ValueError("expected a whole number of at least 1")
            return value

        return self._get(name, default, parse)

    def float(self, name: builtins.str, default: object = _MISSING) -> builtins.float:
        return self._get(name, default, float)

    def interval(self, name: builtins.str, default: builtins.float) -> builtins.float:
        """How often, or how long, in seconds: more than 0 (0 would spin or cut at once)."""
        value = self.float(name, default)
        if value <= 0:
            raise InvalidSetting(name, f"{value:g}", "must be more than 0 seconds")
        return value

    def seconds(self, name: builtins.str, default: timedelta) -> timedelta:
        """A duration, set in seconds (fractions allowed)."""
        return timedelta(seconds=self.float(name, default.total_seconds()))

    def bool(self, name: builtins.str, default: object = _MISSING) -> builtins.bool:
        def parse(raw: builtins.str) -> builtins.bool:
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")

        return self._get(name, default, parse)

    def _get(self, name: builtins.str, default: object, parse: Callable[[builtins.str], T]) -> T:
        raw = self._environ.get(name)
        if raw is None or raw == "":
            if default is _MISSING:
                raise MissingSetting(name)
            return default  # type: ignore[return-value]
        try:
            return parse(raw)
        except ValueError as exc:
            raise InvalidSetting(name, raw, str(exc)) from None
