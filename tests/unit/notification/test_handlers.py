"""Notification's use cases on an in-memory unit of work: contacts, facts turned into
notifications, the inbox and its live feed, and the delivery job."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from runtime.errors import InvalidArgument
from services.notification.adapters import facts
from services.notification.domain.contact import Channel, Contact, ContactChannel, Locale
from services.notification.domain.delivery import (
    Delivery,
    DeliveryFailed,
    DeliveryStatus,
    RetryRules,
)
from services.notification.domain.errors import ContactNotFound, NotificationNotFound
from services.notification.domain.facts import Fact
from services.notification.domain.localized import RLI
from services.notification.domain.notification import DoctorListing, Notification
from services.notification.handlers import contacts, deliveries, inbox, views
from services.notification.handlers.context import Context, NotificationSettings
from services.notification.handlers.facts import DoctorUpdated, Notify, doctor_updated, notify
from services.notification.handlers.ports import Sender
from tests.unit.fakes import FakeUnitOfWork, FakeWatch
from tests.unit.notification import events
from tests.unit.notification.fakes import (
    InMemoryContacts,
    InMemoryDeliveries,
    RecordingSender,
    SilentSender,
    fake_unit,
)

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
RULES = RetryRules(
    max_attempts=3,
    first_retry=timedelta(seconds=30),
    longest_retry=timedelta(minutes=2),
    lease=timedelta(seconds=60),
)
EMAIL, SMS, WEBHOOK = Channel.EMAIL, Channel.SMS, Channel.WEBHOOK
ROSTAMI = DoctorListing("doctor-1", "Dr. Rostami", "Asia/Tehran", NOW - timedelta(days=1))


def context(
    uow: FakeUnitOfWork,
    *,
    senders: Mapping[Channel, Sender] | None = None,
    feed: FakeWatch | None = None,
    **settings: object,
) -> Context:
    return Context(
        lambda: uow,
        senders or dict.fromkeys(Channel, RecordingSender()),
        feed or FakeWatch(),
        # The default zone is not the doctor's, so a test can tell which was used.
        NotificationSettings(**{"default_zone": ZoneInfo("UTC"), "retry": RULES, **settings}),
        clock=lambda: NOW,
    )


def later(ctx: Context, by: timedelta) -> Context:
    return replace(ctx, clock=lambda: NOW + by)


def a_contact(user_id: str = "patient-1", *channels: ContactChannel) -> Contact:
    return Contact.register(
        user_id=user_id,
        locale=Locale.EN,
        channels=channels or (ContactChannel(EMAIL, "sara@example.com"),),
        now=NOW,
    )


def reservation(patient_id: str = "patient-1", doctor_id: str = "doctor-1") -> Fact:
    return facts.reservation_confirmed(events.reservation_confirmed(patient_id, doctor_id))


def payment_failed(patient_id: str = "patient-1") -> Fact:
    return facts.payment_failed(events.payment_failed(patient_id))


async def told(ctx: Context, *news: Fact) -> list[Notification]:
    """The notifications the facts created, each fact handled as the consumer does."""
    created = []
    for fact in news:
        created += await notify(ctx, ctx.unit_of_work(), Notify(fact))
    return created


async def test_a_registered_contact_is_what_the_user_reads_back():
    uow = fake_unit()
    ctx = context(uow)
    command = contacts.RegisterContact(
        "patient-1", Locale.FA, (ContactChannel(SMS, "+989121234567"),)
    )
    registered = (await contacts.register_contact(ctx, uow, command)).contact
    assert await views.contact(uow, "patient-1") == registered
    assert registered.updated_at == NOW and registered.locale is Locale.FA


async def test_a_webhooks_secret_is_told_by_the_registration_that_made_it_and_never_again():
    uow = fake_unit()
    ctx = context(uow)
    hook = ContactChannel(WEBHOOK, "https://hooks.clinic.example/nobat")
    first = await contacts.register_contact(
        ctx, uow, contacts.RegisterContact("doctor-1", Locale.EN, (hook,))
    )
    assert first.new_signing_secret == first.contact.signing_secret != ""
    again = await contacts.register_contact(
        ctx, uow, contacts.RegisterContact("doctor-1", Locale.FA, (hook,))
    )
    assert again.new_signing_secret == ""
    assert (await views.contact(uow, "doctor-1")).signing_secret == first.new_signing_secret


async def test_registering_again_replaces_the_contact():
    uow = fake_unit(contacts=[a_contact()])
    ctx = context(uow)
    command = contacts.RegisterContact(
        "patient-1", Locale.EN, (ContactChannel(SMS, "+15551234567"),)
    )
    await contacts.register_contact(ctx, uow, command)
    [kept] = uow.contacts.all()
    assert kept.channels == (ContactChannel(SMS, "+15551234567"),)


async def test_a_contact_with_an_unusable_address_is_refused_and_nothing_is_kept():
    uow = fake_unit()
    command = contacts.RegisterContact(
        "patient-1", Locale.EN, (ContactChannel(Channel.WEBHOOK, "http://example.com/hook"),)
    )
    with pytest.raises(InvalidArgument):
        await contacts.register_contact(context(uow), uow, command)
    assert uow.contacts.all() == [] and uow.commits == 0


async def test_a_user_who_registered_no_contact_is_not_found():
    uow = fake_unit()
    with pytest.raises(ContactNotFound):
        await views.contact(uow, "patient-1")


async def test_a_fact_reaches_each_recipient_in_their_language_on_every_enabled_channel():
    patient = a_contact(
        "patient-1",
        ContactChannel(EMAIL, "sara@example.com"),
        ContactChannel(SMS, "+15551234567", enabled=False),
    )
    uow = fake_unit(contacts=[patient])
    await told(context(uow), reservation())
    [to_patient] = uow.notifications.inbox("patient-1")
    assert (to_patient.locale, to_patient.title) == (Locale.EN, "Appointment booked")
    assert [(d.channel, d.status) for d in to_patient.deliveries] == [
        (EMAIL, DeliveryStatus.PENDING)
    ]
    # The doctor registered no contact: the default language, and nothing to send.
    [to_doctor] = uow.notifications.inbox("doctor-1")
    assert to_doctor.locale is Locale.FA and to_doctor.title.startswith(RLI)
    assert to_doctor.deliveries == []
    assert len(uow.deliveries.all()) == 1


async def test_the_same_fact_twice_notifies_each_recipient_once():
    uow = fake_unit(contacts=[a_contact()])
    ctx = context(uow)
    fact = reservation()
    assert len(await told(ctx, fact)) == 2
    assert await told(ctx, fact) == []
    assert [n.sequence for n in uow.notifications.inbox("patient-1")] == [1]
    assert len(uow.deliveries.all()) == 1


async def test_each_users_inbox_is_numbered_without_gaps():
    uow = fake_unit()
    await told(context(uow), payment_failed(), reservation(), payment_failed())
    assert [n.sequence for n in uow.notifications.inbox("patient-1")] == [1, 2, 3]
    assert [n.sequence for n in uow.notifications.inbox("doctor-1")] == [1]


async def test_a_known_doctor_is_named_and_times_are_told_in_their_zone():
    uow = fake_unit(contacts=[a_contact()])
    ctx = context(uow)
    await doctor_updated(ctx, uow, DoctorUpdated(ROSTAMI))
    await told(ctx, reservation())
    [notification] = uow.notifications.inbox("patient-1")
    assert "with Dr. Rostami on Sunday 3 May 2026, 09:30" in notification.body


async def test_a_doctor_the_directory_never_listed_is_your_doctor_in_the_default_zone():
    uow = fake_unit(contacts=[a_contact()])
    await told(context(uow), reservation())
    [notification] = uow.notifications.inbox("patient-1")
    assert "with your doctor on Sunday 3 May 2026, 06:00" in notification.body


async def test_an_older_directory_entry_never_replaces_a_newer_one():
    uow = fake_unit(doctors=[ROSTAMI])
    ctx = context(uow)
    stale = replace(ROSTAMI, display_name="Dr. R.", updated_at=ROSTAMI.updated_at - timedelta(1))
    await doctor_updated(ctx, uow, DoctorUpdated(stale))
    assert uow.doctors.all() == [ROSTAMI]
    renamed = replace(ROSTAMI, display_name="Dr. Sara Rostami", updated_at=NOW)
    await doctor_updated(ctx, uow, DoctorUpdated(renamed))
    assert uow.doctors.all() == [renamed]


class ContactsDownFor(InMemoryContacts):
    """Contacts whose store fails while reading one user's, the first time only."""

    def __init__(self, user_id: str) -> None:
        super().__init__()
        self.failing = user_id

    async def get(self, user_id: str, /, *, for_update: bool = False) -> Contact | None:
        if user_id == self.failing:
            self.failing = ""
            raise ConnectionError("the database went away")
        return await super().get(user_id)


async def test_a_fact_that_fails_halfway_leaves_nothing_and_its_redelivery_tells_everyone():
    uow = fake_unit(contacts=ContactsDownFor("doctor-1"))
    ctx = context(uow)
    fact = reservation()
    with pytest.raises(ConnectionError):
        await told(ctx, fact)
    assert uow.notifications.all() == [] and uow.deliveries.all() == []
    await told(ctx, fact)
    assert [n.sequence for n in uow.notifications.inbox("patient-1")] == [1]
    assert [n.sequence for n in uow.notifications.inbox("doctor-1")] == [1]


async def test_marking_read_counts_only_what_was_unread():
    uow = fake_unit()
    ctx = context(uow)
    first, _ = await told(ctx, payment_failed(), payment_failed())
    command = inbox.MarkRead("patient-1", (first.id,))
    assert await inbox.mark_read(ctx, uow, command) == 1
    assert await inbox.mark_read(ctx, uow, command) == 0
    assert [n.read_at for n in uow.notifications.inbox("patient-1")] == [NOW, None]


async def test_marking_up_to_a_sequence_marks_every_earlier_one():
    uow = fake_unit()
    ctx = context(uow)
    await told(ctx, payment_failed(), payment_failed(), payment_failed())
    assert await inbox.mark_read(ctx, uow, inbox.MarkRead("patient-1", (), 2)) == 2
    assert [n.read_at for n in uow.notifications.inbox("patient-1")] == [NOW, NOW, None]


async def test_naming_someone_elses_notification_marks_nothing():
    uow = fake_unit()
    ctx = context(uow)
    [mine, theirs] = await told(ctx, payment_failed("patient-1"), payment_failed("patient-2"))
    with pytest.raises(NotificationNotFound):
        await inbox.mark_read(ctx, uow, inbox.MarkRead("patient-1", (mine.id, theirs.id)))
    assert all(n.read_at is None for n in uow.notifications.all())


async def test_a_live_feed_replays_what_came_after_the_cursor_then_follows_new_ones():
    uow = fake_unit()
    feed = FakeWatch()
    ctx = context(uow, feed=feed)
    await told(ctx, payment_failed(), payment_failed())
    stream = views.follow(ctx, "patient-1", 1)
    assert (await anext(stream)).sequence == 2
    following = asyncio.ensure_future(anext(stream))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not following.done()
    [new] = await told(ctx, payment_failed())
    feed.news("patient-1")
    assert await asyncio.wait_for(following, 1) == new
    await stream.aclose()
    assert feed.watching == []


async def test_a_live_feed_reads_a_long_backlog_in_batches_without_waiting():
    uow = fake_unit()
    ctx = context(uow, stream_batch=2)
    await told(ctx, payment_failed(), payment_failed(), payment_failed())
    stream = views.follow(ctx, "patient-1", 0)
    read = [await asyncio.wait_for(anext(stream), 1) for _ in range(3)]
    await stream.aclose()
    assert [n.sequence for n in read] == [1, 2, 3]


def _deliveries_of(uow: FakeUnitOfWork) -> dict[Channel, Delivery]:
    return {d.channel: d for d in uow.deliveries.all()}


async def test_due_deliveries_are_sent_through_their_channel_once():
    uow = fake_unit(contacts=[a_contact()])
    email = RecordingSender()
    ctx = context(uow, senders={EMAIL: email})
    assert await deliveries.deliver_due(ctx) == 0
    [notification] = await told(ctx, payment_failed())
    assert await deliveries.deliver_due(ctx) == 1
    assert await deliveries.deliver_due(later(ctx, timedelta(days=1))) == 0
    [(delivery, sent)] = email.tries
    assert (delivery.address, sent.title) == ("sara@example.com", notification.title)
    [kept] = uow.deliveries.all()
    assert (kept.status, kept.attempts, kept.delivered_at) == (DeliveryStatus.DELIVERED, 1, NOW)


async def test_a_failing_channel_is_retried_after_its_backoff_and_holds_up_no_other():
    both = (ContactChannel(EMAIL, "sara@example.com"), ContactChannel(SMS, "+15551234567"))
    uow = fake_unit(contacts=[a_contact("patient-1", *both)])
    email, sms = RecordingSender(DeliveryFailed("451 mailbox busy")), RecordingSender()
    ctx = context(uow, senders={EMAIL: email, SMS: sms})
    await told(ctx, payment_failed())
    assert await deliveries.deliver_due(ctx) == 2
    by_channel = _deliveries_of(uow)
    assert by_channel[SMS].status is DeliveryStatus.DELIVERED
    assert by_channel[EMAIL].status is DeliveryStatus.RETRYING
    assert by_channel[EMAIL].last_error == "451 mailbox busy"
    assert await deliveries.deliver_due(later(ctx, timedelta(seconds=29))) == 0
    assert await deliveries.deliver_due(later(ctx, timedelta(seconds=30))) == 1
    retried = _deliveries_of(uow)[EMAIL]
    assert (retried.status, retried.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(sms.tries) == 1


async def test_a_channel_that_refuses_for_good_is_dead_lettered_at_once():
    uow = fake_unit(contacts=[a_contact()])
    refused = DeliveryFailed("550 no such mailbox", permanent=True)
    ctx = context(uow, senders={EMAIL: RecordingSender(refused)})
    await told(ctx, payment_failed())
    await deliveries.deliver_due(ctx)
    [kept] = uow.deliveries.all()
    assert (kept.status, kept.attempts) == (DeliveryStatus.DEAD_LETTERED, 1)
    assert await deliveries.deliver_due(later(ctx, timedelta(days=1))) == 0


async def test_a_refusal_quoting_the_mailbox_is_logged_with_the_address_masked(caplog):
    uow = fake_unit(contacts=[a_contact()])
    quoted = "550 5.1.1 <sara@example.com>: Recipient address rejected"
    ctx = context(uow, senders={EMAIL: RecordingSender(DeliveryFailed(quoted, permanent=True))})
    await told(ctx, payment_failed())
    with caplog.at_level("INFO"):
        await deliveries.deliver_due(ctx)
    assert "<s***@example.com>: Recipient address rejected" in caplog.text
    assert "sara@example.com" not in caplog.text
    # The owner reads their own address back in their inbox.
    assert uow.deliveries.all()[0].last_error == quoted


@pytest.mark.parametrize(
    ("sender", "reason", "logged"),
    [
        (SilentSender(), "no answer within 0.01s", "no answer within 0.01s"),
        (
            RecordingSender(RuntimeError("bug in the adapter")),
            "could not be sent",
            "unexpected error: RuntimeError('bug in the adapter')",
        ),
    ],
    ids=["silent", "crashing"],
)
async def test_a_channel_that_never_answers_or_crashes_has_used_a_try(
    sender, reason, logged, caplog
):
    uow = fake_unit(contacts=[a_contact()])
    ctx = context(uow, senders={EMAIL: sender}, send_timeout=0.01)
    await told(ctx, payment_failed())
    assert await deliveries.deliver_due(ctx) == 1
    [kept] = uow.deliveries.all()
    assert (kept.status, kept.attempts, kept.last_error) == (DeliveryStatus.RETRYING, 1, reason)
    assert logged in caplog.text


async def test_the_user_reads_a_failures_reason_and_only_the_log_reads_its_detail(caplog):
    uow = fake_unit(contacts=[a_contact()])
    failure = DeliveryFailed("unreachable", detail="connect to 10.1.2.3:443 refused")
    ctx = context(uow, senders={EMAIL: RecordingSender(failure)})
    await told(ctx, payment_failed())
    await deliveries.deliver_due(ctx)
    [kept] = uow.deliveries.all()
    assert kept.last_error == "unreachable"
    assert "10.1.2.3:443" in caplog.text


async def test_each_webhook_is_sent_with_its_own_contacts_secret():
    hook = ContactChannel(WEBHOOK, "https://hooks.clinic.example/nobat")
    uow = fake_unit(contacts=[a_contact("patient-1", hook), a_contact("patient-2", hook)])
    webhooks = RecordingSender()
    ctx = context(uow, senders={WEBHOOK: webhooks})
    await told(ctx, payment_failed("patient-1"), payment_failed("patient-2"))
    assert await deliveries.deliver_due(ctx) == 2
    used = {sent.user_id: delivery.signing_secret for delivery, sent in webhooks.tries}
    secrets = {c.user_id: c.signing_secret for c in uow.contacts.all()}
    assert used == secrets and len(set(used.values())) == 2


class AnswersAfterItsLease:
    """A channel whose first send answers only after the lease ran out and another replica
    claimed the delivery again and delivered it."""

    def __init__(self) -> None:
        self.replica: Context | None = None
        self.tries = 0

    async def send(self, delivery: Delivery, notification: Notification) -> None:
        self.tries += 1
        if self.tries == 1:
            assert self.replica is not None
            assert await deliveries.deliver_due(self.replica) == 1
            raise DeliveryFailed("gateway timed out")


async def test_a_send_answered_after_its_lease_ran_out_leaves_the_next_claims_outcome():
    uow = fake_unit(contacts=[a_contact()])
    slow = AnswersAfterItsLease()
    ctx = context(uow, senders={EMAIL: slow})
    slow.replica = later(ctx, RULES.lease)
    await told(ctx, payment_failed())
    await deliveries.deliver_due(ctx)
    [kept] = uow.deliveries.all()
    assert (kept.status, kept.attempts, kept.last_error) == (DeliveryStatus.DELIVERED, 2, "")


class OutcomesLostOnce(InMemoryDeliveries):
    """Deliveries whose store fails the first time an outcome is written."""

    lost = False

    async def save(self, delivery: Delivery) -> None:
        if delivery.status is not DeliveryStatus.PENDING and not self.lost:
            self.lost = True
            raise ConnectionError("the database went away")
        await super().save(delivery)


async def test_an_outcome_that_cannot_be_recorded_is_sent_again_once_the_lease_runs_out():
    uow = fake_unit(contacts=[a_contact()], deliveries=OutcomesLostOnce())
    email = RecordingSender()
    ctx = context(uow, senders={EMAIL: email})
    await told(ctx, payment_failed())
    assert await deliveries.deliver_due(ctx) == 1
    [kept] = uow.deliveries.all()
    assert (kept.status, kept.attempts) == (DeliveryStatus.PENDING, 1)
    assert await deliveries.deliver_due(later(ctx, RULES.lease - timedelta(seconds=1))) == 0
    assert await deliveries.deliver_due(later(ctx, RULES.lease)) == 1
    assert len(email.tries) == 2
    assert uow.deliveries.all()[0].status is DeliveryStatus.DELIVERED
