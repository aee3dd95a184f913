"""New deliveries go out as soon as they are committed: the notifying handler wakes the
delivery job through the unit's commit, and the courier runs it in the background, one
run at a time, once more for whatever was committed while it ran."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from services.notification.domain.contact import ContactChannel
from services.notification.handlers.deliveries import Courier
from services.notification.handlers.facts import Notify, notify
from tests.unit.notification.fakes import fake_unit
from tests.unit.notification.test_handlers import EMAIL, a_contact, context, payment_failed


async def test_the_delivery_job_is_woken_once_the_consumers_transaction_commits():
    uow = fake_unit(contacts=[a_contact()])
    woken = []
    ctx = replace(context(uow), deliveries_waiting=lambda: woken.append(True))
    # The consumer's own unit, which the handler joins, as runtime.consumer opens it.
    async with uow:
        await notify(ctx, uow, Notify(payment_failed()))
        assert woken == []
        await uow.commit()
    assert woken == [True]


async def test_nothing_is_woken_when_the_transaction_rolls_back_or_nothing_is_to_send():
    uow = fake_unit(contacts=[a_contact("patient-1", ContactChannel(EMAIL, "s@example.com"))])
    woken = []
    ctx = replace(context(uow), deliveries_waiting=lambda: woken.append(True))
    async with uow:
        await notify(ctx, uow, Notify(payment_failed()))
    # A user without a contact has nothing to be sent.
    await notify(ctx, uow, Notify(payment_failed("patient-2")))
    assert woken == []


class Job:
    """A delivery job that waits to be let go, counting its runs and how many overlap."""

    def __init__(self, *claims: int) -> None:
        self.claims = list(claims)
        self.runs = 0
        self.running = 0
        self.most_at_once = 0
        self.go = asyncio.Event()

    async def __call__(self) -> int:
        self.runs += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        await self.go.wait()
        self.running -= 1
        return self.claims.pop(0) if self.claims else 0


async def test_wake_ups_during_a_run_make_one_more_run_never_two_at_once():
    job = Job(1, 1)
    courier = Courier(job, batch=10)
    courier.wake()
    await asyncio.sleep(0)
    courier.wake()
    courier.wake()
    job.go.set()
    await courier.close()
    assert (job.runs, job.most_at_once) == (2, 1)


async def test_a_full_batch_is_followed_by_another_run():
    job = Job(10, 10, 3)
    job.go.set()
    courier = Courier(job, batch=10)
    courier.wake()
    await courier.close()
    assert job.runs == 3


async def test_a_failing_run_is_left_to_the_schedule_and_the_next_wake_up_runs_again():
    runs = []

    async def failing() -> int:
        runs.append(True)
        raise ConnectionError("the database went away")

    courier = Courier(failing, batch=10)
    courier.wake()
    await courier.close()
    courier.wake()
    await courier.close()
    assert len(runs) == 2
