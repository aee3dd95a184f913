"""What every service's periodic jobs share: handling a batch item by item."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from runtime.errors import DomainError
from runtime.instants import Clock
from runtime.retention import Retention
from runtime.retry import retrying
from runtime.unit import Unit

if TYPE_CHECKING:
    # Handlers use this module; they must not load the database library (test_layers).
    from runtime.db import UnitOfWork

log = logging.getLogger(__name__)

# The service's unit of work, and the command a job gives its handler.
U = TypeVar("U", bound=Unit)
U_co = TypeVar("U_co", bound=Unit, covariant=True)
C = TypeVar("C")


class Units(Protocol[U_co]):
    """What a job needs of a service's context: a fresh unit of work each time."""

    @property
    def unit_of_work(self) -> Callable[[], U_co]: ...


async def for_each(ids: Sequence[str], work: Callable[[str], Awaitable[object]], what: str) -> int:
    """Handles every item on its own, so one that fails does not stop the rest."""
    done = 0
    for item in ids:
        try:
            await retrying(functools.partial(work, item))
            done += 1
        except DomainError as exc:
            log.warning("%s %s: %s", what, item, exc)
        except Exception:
            log.exception("%s %s failed; it is tried again next run", what, item)
    return done


async def sweep(
    ctx: Units[U],
    due: Callable[[U], Awaitable[Sequence[str]]],
    handler: Callable[[Any, U, C], Awaitable[object]],
    command: Callable[[str], C],
    what: str,
) -> int:
    """A job's whole round: the ids `due` finds in one unit of work, then `command` of each
    given to `handler` in a unit of its own. Returns how many were handled."""
    async with ctx.unit_of_work() as uow:
        found = await due(uow)
    return await for_each(found, lambda item: handler(ctx, ctx.unit_of_work(), command(item)), what)


async def purge_past_use(
    unit_of_work: Callable[[], UnitOfWork], retention: Retention, clock: Clock
) -> int:
    """Every service's housekeeping job, which the process schedules itself every
    `retention.every` seconds: the rows its database keeps past their use go
    (runtime.purge, with the windows of `retention`). Returns how many."""
    done = await unit_of_work().purge_past_use(retention, clock())
    purged = {table: rows for table, rows in done.items() if rows}
    if purged:
        log.info("purged rows past their use: %s", purged)
    return sum(done.values())
