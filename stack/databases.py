"""Databases on one PostgreSQL server: the local stack's four, and the tests' throwaway ones."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url


class Databases:
    """Creates and drops databases through an admin URL (embedded or external server)."""

    def __init__(self, admin_url: str) -> None:
        self._url = make_url(admin_url)

    def url(self, name: str) -> str:
        """The SQLAlchemy (asyncpg) URL a service is given."""
        return self._url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )

    def dsn(self, name: str) -> str:
        """The plain libpq form, for asyncpg itself."""
        return self._url.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )

    async def create(self, name: str, template: str | None = None) -> str:
        sql = f'CREATE DATABASE "{name}"'
        if template:
            sql += f' TEMPLATE "{template}"'
        await self._admin(sql)
        return self.url(name)

    async def create_missing(self, names: list[str]) -> None:
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            existing = {
                row["datname"] for row in await conn.fetch("SELECT datname FROM pg_database")
            }
            for name in names:
                if name not in existing:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
