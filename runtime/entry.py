"""The command line every service process has: `migrate` and `serve`.

`python -m services.booking migrate` brings the service's database to the latest
revision; `python -m services.booking serve` runs it until SIGTERM. A missing or
invalid setting stops either at once with the variable's name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from runtime import tracing
from runtime.config import Env, InvalidSetting, MissingSetting
from runtime.db import UnitOfWork
from runtime.logs import configure_logging
from runtime.migrations import upgrade
from runtime.service import ServiceProcess, run_until_stopped
from runtime.settings import RuntimeSettings
from runtime.tls import TlsSettings
from runtime.wiring import WIRING

U = TypeVar("U", bound=UnitOfWork)


def main(
    name: str,
    *,
    migrations: Path,
    build: Callable[[ServiceProcess[U], Env], None],
    unit: type[U],
    argv: Sequence[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    parser.add_argument("command", choices=["serve", "migrate"])
    command = parser.parse_args(argv).command
    env = Env()
    try:
        if command == "migrate":
            upgrade(
                migrations,
                env.str("NOBAT_DATABASE_URL"),
                ssl=TlsSettings.from_env(env).database_context(),
            )
            return
        settings = RuntimeSettings.from_env(env)
        configure_logging(name, settings.log_level)
        # Before anything is built: the engine, servers and channels are traced as made.
        tracing.configure(name)
        process = ServiceProcess(name, settings, wiring=WIRING[name], unit=unit)
        build(process, env)
    except (MissingSetting, InvalidSetting) as exc:
        sys.exit(f"{name}: {exc}")
    try:
        run_until_stopped(process)
    finally:
        tracing.shutdown()
