"""What notification's handlers see of a transaction: its repositories, whether the
database keeps them (adapters/unit_of_work.py) or a unit test's memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, Self

from runtime.unit import Unit

if TYPE_CHECKING:
    from services.notification.adapters.repository import (
        Contacts,
        Deliveries,
        Doctors,
        Notifications,
    )


class NotificationUnit(Unit, Protocol):
    contacts: Contacts
    doctors: Doctors
    notifications: Notifications
    deliveries: Deliveries

    def after_commit(self, work: Callable[[], object]) -> None:
        """Runs `work` once the outermost transaction has committed; never if it rolls
        back."""


class AfterCommit:
    """Work to run once a unit's outermost transaction has committed (the consumer's,
    when a handler joins it), dropped if it rolls back: mixed in before a unit of work
    whose `_depth` counts how deeply it is open."""

    _depth: int
    _after_commit: list[Callable[[], object]]

    async def __aenter__(self) -> Self:
        if self._depth == 0:
            self._after_commit = []
        return await super().__aenter__()  # type: ignore[misc]

    def after_commit(self, work: Callable[[], object]) -> None:
        self._after_commit.append(work)

    async def commit(self) -> None:
        outermost = self._depth == 1
        await super().commit()  # type: ignore[misc]
        if outermost:
            done, self._after_commit = self._after_commit, []
            for work in done:
                work()
