"""Running a unit of work again when the database chose it as the loser of a race, or
lost its connection.

Kept apart from runtime.db, and free of any database library, so that handlers and jobs
can retry their units whether the database or a unit test's memory keeps them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Serialization failure and deadlock: the database chose us as the loser of a race; the
# whole unit of work is safe to run again from the start.
RETRYABLE_SQLSTATES = {"40001", "40P01"}


def is_retryable(exc: BaseException) -> bool:
    # A connection lost before the commit was answered: nothing of the unit was kept, or
    # all of it was and running it again finds it done (every unit is idempotent).
    if getattr(exc, "connection_invalidated", False):
        return True
    # SQLAlchemy wraps the driver's error as `orig`; asyncpg's carries the SQLSTATE, or
    # its own cause does when the async adapter wrapped it once more.
    cause = getattr(exc, "orig", None)
    if cause is None:
        return False
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if code is None and cause.__cause__ is not None:
        code = getattr(cause.__cause__, "sqlstate", None)
    return code in RETRYABLE_SQLSTATES


async def retrying(
    work: Callable[[], Awaitable[T]], *, attempts: int = 5, base_delay: float = 0.02
) -> T:
    """Run a whole unit of work again when the database reports a lost race."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except Exception as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            delay = random.uniform(0, base_delay * 2**attempt)
            log.info("retrying unit of work after %s", type(getattr(exc, "orig", exc)).__name__)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
