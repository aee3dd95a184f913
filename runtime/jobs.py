"""What every service's periodic jobs share: handling a batch item by item."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from runtime.errors import DomainError
from runtime.retry import retrying

log = logging.getLogger(__name__)


async def for_each(ids: Sequence[str], work: Callable[[str], Awaitable[object]], what: str) -> int:
    """Handles every item on its own, so one that fails does not stop the rest."""
    done = 0
    for item in ids:
        try:
            await retrying(lambda item=item: work(item))
            done += 1
        except DomainError as exc:
            log.warning("%s %s: %s", what, item, exc)
        except Exception:
            log.exception("%s %s failed; it is tried again next run", what, item)
    return done
