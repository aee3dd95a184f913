"""A service's map, and the one way its entry points reach a handler.

Each service ends its handlers package with three tables: COMMANDS (what its callers ask
for), EVENTS (what it hears from other services) and JOBS (what it does on its own, every
few seconds). The gRPC servicer, the event consumer and the composition root read those
tables, so a service's whole behaviour is on one screen. Every handler takes the context,
a unit of work and one command or event object, and is named after that object's class
(StartCheckout → start_checkout).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from runtime.unit import Unit

Handler = Callable[[Any, Any, Any], Awaitable[Any]]


class Handlers:
    """Handlers bound to the service's context: `await handle(command)` runs the one the
    tables name for it, in a unit of its own or, when given one, the caller's."""

    def __init__(self, ctx: Any, *tables: Mapping[type, Handler]) -> None:
        self.ctx = ctx
        self._handlers: dict[type, Handler] = {}
        for table in tables:
            self._handlers.update(table)

    async def __call__(self, message: object, uow: Unit | None = None) -> Any:
        handler = self._handlers[type(message)]
        return await handler(self.ctx, uow if uow is not None else self.ctx.unit_of_work(), message)


def handler_name(kind: type) -> str:
    """The name a handler of `kind` goes by: StartCheckout → start_checkout."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind.__name__).lower()
