"""What the housekeeping tests share (runtime.purge): rows of the runtime's tables stamped
at chosen instants, what is left of them, and a run of a service's purge job at an
instant of the test's choosing, never the wall clock's."""

from __future__ import annotations

import uuid
from datetime import datetime

from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.db import UnitOfWork, sessionmaker
from runtime.jobs import purge_past_use
from runtime.retention import Retention


async def runtime_rows(engine: AsyncEngine, name: str, at: datetime, published: bool = True):
    """An idempotency key, an inbox row and an outbox row named `name`, made at `at`."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO idempotency_keys (scope, key, request_hash, created_at)"
                " VALUES ('test', :name, '\\x00', :at)"
            ),
            {"name": name, "at": at},
        )
        await conn.execute(
            text("INSERT INTO inbox (consumer, event_id, received_at) VALUES ('test', :name, :at)"),
            {"name": name, "at": at},
        )
        await conn.execute(
            text(
                "INSERT INTO outbox (event_id, event_type, subject, payload, headers,"
                " created_at, published_at) VALUES (:id, :name, 'nobat.test', '\\x00', '{}',"
                " :at, :published)"
            ),
            {"id": uuid.uuid4(), "name": name, "at": at, "published": at if published else None},
        )


async def runtime_rows_left(engine: AsyncEngine) -> dict[str, set[str]]:
    async with engine.connect() as conn:
        return {
            table: {row[0] for row in await conn.execute(text(sql))}
            for table, sql in {
                "idempotency_keys": "SELECT key FROM idempotency_keys",
                "inbox": "SELECT event_id FROM inbox",
                "outbox": "SELECT event_type FROM outbox",
            }.items()
        }


def purged_so_far(table: str) -> float:
    return REGISTRY.get_sample_value("nobat_rows_purged_total", {"table": table}) or 0.0


async def run_purge_job(
    unit: type[UnitOfWork],
    engine: AsyncEngine,
    at: datetime,
    retention: Retention | None = None,
) -> int:
    """The service's housekeeping job, as its process schedules it, with its clock at `at`."""
    sessions = sessionmaker(engine)
    return await purge_past_use(lambda: unit(sessions), retention or Retention(), lambda: at)
