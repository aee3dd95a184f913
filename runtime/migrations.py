"""Alembic, driven from code.

The environment (`runtime/alembic`) and the runtime's own revisions are shared; each
service adds its revisions from `services/<name>/migrations`, chained after the
runtime's, so the four databases are migrated one way and nothing is copied.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from runtime.db import connect_args

SHARED = Path(__file__).parent / "alembic"


def alembic_config(
    migrations_dir: Path, database_url: str, ssl: ssl.SSLContext | None = None
) -> Config:
    config = Config()
    # Objects reach env.py through attributes; the ini options hold strings only.
    config.attributes["connect_args"] = connect_args(ssl)
    config.set_main_option("script_location", str(SHARED))
    config.set_main_option("path_separator", "space")
    config.set_main_option("version_locations", f"{SHARED / 'versions'} {migrations_dir}")
    # ConfigParser interpolation treats % specially; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(
    migrations_dir: Path,
    database_url: str,
    revision: str = "head",
    ssl: ssl.SSLContext | None = None,
) -> None:
    """Bring a database up to `revision`; safe to run at every start (already there: no-op).
    `ssl`: TLS to PostgreSQL, as the services connect (runtime.tls)."""
    command.upgrade(alembic_config(migrations_dir, database_url, ssl), revision)


def run_migrations() -> None:
    """Body of every service's alembic env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:  # alembic_config() sets it; alembic run by hand may not
        raise RuntimeError("alembic's configuration names no database (sqlalchemy.url)")

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(
            url,
            poolclass=NullPool,
            hide_parameters=True,
            connect_args=context.config.attributes.get("connect_args", connect_args(None)),
        )
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(main())
