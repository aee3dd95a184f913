"""The notification service as a process against real PostgreSQL and NATS: events from
the other contexts become notifications for the right people, in their language, delivered
once per channel whatever the channels and the streams do."""

from __future__ import annotations

import asyncio
import base64

import grpc
import pytest
from nobat.notification.v1 import notification_service_pb2 as pb

from services.notification.domain.localized import PDI, RLI
from tests.component.notification.harness import (
    REFUSING_DOMAIN,
    inbox,
    inbox_until,
    key,
    next_of,
    signature_is_valid,
    user,
)
from tests.processes import eventually
from tests.unit.notification import events

EMAIL, SMS, WEBHOOK = pb.CHANNEL_EMAIL, pb.CHANNEL_SMS, pb.CHANNEL_WEBHOOK
DELIVERED, DEAD = pb.DELIVERY_STATUS_DELIVERED, pb.DELIVERY_STATUS_DEAD_LETTERED


async def register(
    notification, user_id: str, locale: int, *channels: tuple[int, str]
) -> pb.RegisterContactResponse:
    request = pb.RegisterContactRequest(
        idempotency_key=key(),
        locale=locale,
        channels=[pb.ContactChannel(channel=c, address=a, enabled=True) for c, a in channels],
    )
    return await notification.api(user_id).RegisterContact(request)


async def test_a_confirmed_reservation_tells_patient_and_doctor_each_in_their_language(
    notification, mailbox, webhooks
):
    patient, doctor = user(), user("doctor")
    patient_mail = f"{patient}@example.com"
    await register(notification, patient, pb.LOCALE_FA, (EMAIL, patient_mail))
    hooked = await register(notification, doctor, pb.LOCALE_EN, (WEBHOOK, webhooks.url("/ok")))
    secret = hooked.webhook_signing_secret
    await notification.publish(events.doctor_updated(doctor, "Dr. Rostami"))
    await asyncio.sleep(0.3)  # the directory entry first, as booking publishes it
    reservation = events.reservation_confirmed(patient, doctor)
    await notification.publish(reservation)

    [told] = await inbox_until(notification.api(patient), 1, settled=True)
    assert told.kind == pb.NOTIFICATION_KIND_RESERVATION_CONFIRMED
    assert told.locale == pb.LOCALE_FA and told.sequence == 1
    assert told.subject_id == reservation.reservation_id
    assert told.title.startswith(RLI) and told.title.endswith(PDI)
    # Persian digits, Solar Hijri date, the rial grouped with the Arabic separator.
    assert "۱۳ اردیبهشت ۱۴۰۵" in told.body and "۰۹:۳۰" in told.body
    assert "۵٬۰۰۰٬۰۰۰ ریال" in told.body and "Dr. Rostami" in told.body  # noqa: RUF001
    assert [(d.channel, d.status, d.attempts) for d in told.deliveries] == [(EMAIL, DELIVERED, 1)]
    [mail] = mailbox.to(patient_mail)
    assert mail["Subject"] == told.title and mail.get_content().strip() == told.body

    [heard] = await inbox_until(notification.api(doctor, "doctor"), 1, settled=True)
    assert heard.locale == pb.LOCALE_EN and heard.title == "New appointment"
    assert heard.body == "A patient booked your appointment on Sunday 3 May 2026, 09:30."
    [(headers, payload)] = webhooks.posts("/ok", doctor)
    raw = next(body for path, h, body in webhooks.received if h is headers)
    assert signature_is_valid(headers, raw, secret)
    assert not signature_is_valid(headers, raw + b" ", secret)
    assert payload["id"] == heard.id and payload["body"] == heard.body
    assert headers["Nobat-Delivery-Id"] == payload["delivery_id"]


async def test_the_same_fact_arriving_twice_makes_one_notification_sent_once(notification, mailbox):
    patient, doctor = user(), user("doctor")
    patient_mail = f"{patient}@example.com"
    await register(notification, patient, pb.LOCALE_EN, (EMAIL, patient_mail))
    reservation = events.reservation_confirmed(patient, doctor)
    event_id = await notification.publish(reservation)
    await notification.publish(reservation, event_id)  # redelivered
    await notification.publish(reservation)  # re-published under a new event id
    await notification.publish(events.reservation_confirmed(patient, doctor))  # another one

    await inbox_until(notification.api(patient), 2, settled=True)
    await asyncio.sleep(0.5)  # room for a wrong third one to show up
    found = list(reversed(await inbox(notification.api(patient))))
    assert [n.sequence for n in found] == [1, 2]
    assert reservation.reservation_id in {n.subject_id for n in found}
    assert len(mailbox.to(patient_mail)) == 2
    assert len(await inbox(notification.api(doctor, "doctor"))) == 2


async def test_a_failing_channel_is_retried_then_dead_lettered_while_the_others_deliver(
    notification, mailbox, webhooks
):
    patient = user()
    refused_before = mailbox.refused
    await register(
        notification,
        patient,
        pb.LOCALE_EN,
        (EMAIL, f"{patient}@{REFUSING_DOMAIN}"),
        (WEBHOOK, webhooks.url("/fail")),
        (SMS, "+989121234567"),
    )
    await notification.publish(events.payment_failed(patient))
    await notification.publish(events.payment_refunded(patient))

    found = await inbox_until(notification.api(patient), 2, settled=True, timeout=20)
    for told in found:
        by_channel = {d.channel: d for d in told.deliveries}
        assert by_channel[SMS].status == DELIVERED and by_channel[SMS].attempts == 1
        for failing in (EMAIL, WEBHOOK):
            assert by_channel[failing].status == DEAD
            assert by_channel[failing].attempts == 3
            assert not by_channel[failing].HasField("next_attempt_at")
        assert "451" in by_channel[EMAIL].last_error
        assert "500" in by_channel[WEBHOOK].last_error
    assert len(webhooks.posts("/fail", patient)) == 6
    assert mailbox.refused - refused_before == 6
    by_kind = {n.kind: n for n in found}
    failed = by_kind[pb.NOTIFICATION_KIND_PAYMENT_FAILED]
    refunded = by_kind[pb.NOTIFICATION_KIND_PAYMENT_REFUNDED]
    assert failed.body == (
        "Your payment did not go through: the card was declined."
        " You can try again while your booking is held."
    )
    assert refunded.body.startswith("12,500.50 USD has been refunded to the way you paid.")


async def test_the_live_stream_replays_after_the_cursor_then_follows_in_order(notification):
    patient = user()
    api = notification.api(patient)
    await notification.publish(events.payment_failed(patient))
    await notification.publish(events.payment_failed(patient))
    await inbox_until(api, 2)

    stub, metadata = notification.stub(), notification.metadata(patient)
    stream = stub.StreamNotifications(
        pb.StreamNotificationsRequest(after_sequence=0), metadata=metadata
    )
    try:
        assert [(await next_of(stream)).sequence for _ in range(2)] == [1, 2]
        await notification.publish(events.payment_refunded(patient))
        await notification.publish(events.reservation_confirmed(patient, user("doctor")))
        # Two streams' consumers: the feed's order is the order of their commits.
        third, fourth = await next_of(stream), await next_of(stream)
        assert (third.sequence, fourth.sequence) == (3, 4)
        assert {third.kind, fourth.kind} == {
            pb.NOTIFICATION_KIND_PAYMENT_REFUNDED,
            pb.NOTIFICATION_KIND_RESERVATION_CONFIRMED,
        }
    finally:
        stream.cancel()

    resumed = stub.StreamNotifications(
        pb.StreamNotificationsRequest(after_sequence=3), metadata=metadata
    )
    try:
        assert (await next_of(resumed)).sequence == 4
        await notification.publish(events.payment_failed(patient))
        assert (await next_of(resumed)).sequence == 5
    finally:
        resumed.cancel()


async def test_a_user_sees_and_marks_only_their_own_inbox(notification):
    alice, bob = user(), user()
    await register(notification, bob, pb.LOCALE_EN)
    await notification.publish(events.payment_failed(alice))
    await notification.publish(events.payment_failed(bob))
    [alices] = await inbox_until(notification.api(alice), 1)
    [bobs] = await inbox_until(notification.api(bob), 1)
    assert alices.user_id == alice and bobs.user_id == bob

    as_alice = notification.api(alice)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await as_alice.MarkRead(
            pb.MarkReadRequest(idempotency_key=key(), notification_ids=[alices.id, bobs.id])
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await inbox(notification.api(bob)))[0].HasField("read_at")
    assert not (await inbox(as_alice))[0].HasField("read_at")  # nothing marked at all

    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await as_alice.GetContact(pb.GetContactRequest(user_id=bob))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await as_alice.RegisterContact(
            pb.RegisterContactRequest(idempotency_key=key(), user_id=bob, locale=pb.LOCALE_FA)
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await notification.api(bob).GetContact(pb.GetContactRequest())).contact.locale == (
        pb.LOCALE_EN
    )


async def test_inbox_pages_newest_first_and_marks_read_once(notification):
    patient = user()
    api = notification.api(patient)
    for _ in range(3):
        await notification.publish(events.payment_failed(patient))
    await inbox_until(api, 3)

    first = await api.ListNotifications(pb.ListNotificationsRequest(page_size=2))
    assert [n.sequence for n in first.notifications] == [3, 2] and first.next_page_token
    rest = await api.ListNotifications(
        pb.ListNotificationsRequest(page_size=2, page_token=first.next_page_token)
    )
    assert [n.sequence for n in rest.notifications] == [1] and not rest.next_page_token

    # The token is the service's own, for this list and these filters: edited to skip ahead,
    # or sent with another filter, it is refused and nothing else happens.
    mac = first.next_page_token.partition(".")[2]
    skipping = base64.urlsafe_b64encode(b"[9]").decode().rstrip("=")
    for bad in (
        pb.ListNotificationsRequest(page_size=2, page_token=f"{skipping}.{mac}"),
        pb.ListNotificationsRequest(page_token=first.next_page_token, unread_only=True),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api.ListNotifications(bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in refused.value.details()

    request = pb.MarkReadRequest(idempotency_key=key(), up_to_sequence=2)
    assert (await api.MarkRead(request)).marked_count == 2
    assert (await api.MarkRead(request)).marked_count == 2  # the same answer for the same key
    again = pb.MarkReadRequest(idempotency_key=key(), notification_ids=[first.notifications[1].id])
    assert (await api.MarkRead(again)).marked_count == 0
    unread = await inbox(api, unread_only=True)
    assert [n.sequence for n in unread] == [3]


async def test_consultations_and_payouts_reach_their_people(notification):
    patient, doctor = user(), user("doctor")
    await register(notification, patient, pb.LOCALE_EN)
    await register(notification, doctor, pb.LOCALE_FA)
    await notification.publish(events.consultation_created(patient))
    await notification.publish(events.payout_released(doctor))

    [queued] = await inbox_until(notification.api(patient), 1)
    assert queued.kind == pb.NOTIFICATION_KIND_CONSULTATION_CREATED
    assert queued.body == (
        "Your video consultation request has been received."
        " A doctor will be assigned as soon as one is on shift."
    )
    [payout] = await inbox_until(notification.api(doctor, "doctor"), 1)
    assert payout.kind == pb.NOTIFICATION_KIND_PAYOUT_RELEASED
    assert "۹٬۴۱۰٬۰۰۰ ریال" in payout.body  # noqa: RUF001 (Persian digits)
    assert "۱۰٬۰۰۰٬۰۰۰ ریال" in payout.body  # noqa: RUF001


async def test_an_event_naming_nobody_is_dead_lettered_and_the_rest_go_on(notification):
    patient = user()
    poison = await notification.publish(events.payment_failed(""))
    await notification.publish(events.payment_failed(patient))
    await inbox_until(notification.api(patient), 1)

    async def dead_lettered() -> bool:
        rows = await notification.rows(
            "SELECT error FROM dead_letters WHERE event_id = :id", id=poison
        )
        return bool(rows) and "PermanentFailure" in rows[0][0]

    await eventually(dead_lettered, 10, "the poison event's dead letter")
