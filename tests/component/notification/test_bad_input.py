"""Bad input to the notification service: INVALID_ARGUMENT naming the field, and nothing
stored."""

from __future__ import annotations

import grpc
import pytest
from nobat.notification.v1 import notification_service_pb2 as pb

from tests.component.notification.harness import key, user
from tests.component.payment.test_bad_input import violated_fields

EMAIL, SMS, PUSH, WEBHOOK = pb.CHANNEL_EMAIL, pb.CHANNEL_SMS, pb.CHANNEL_PUSH, pb.CHANNEL_WEBHOOK


def contact(*channels: tuple[int, str], locale: int = pb.LOCALE_EN, **fields):
    return pb.RegisterContactRequest(
        idempotency_key=fields.pop("idempotency_key", key()),
        locale=locale,
        channels=[pb.ContactChannel(channel=c, address=a, enabled=True) for c, a in channels],
        **fields,
    )


BAD_CONTACTS = {
    "e-mail without a domain": (contact((EMAIL, "patient@")), ["channels[0].address"]),
    "e-mail with a line break": (
        contact((EMAIL, "a@example.com\r\nBcc: all@example.com")),
        ["channels[0].address"],
    ),
    "oversized e-mail": (
        contact((EMAIL, "a" * 60 + "@" + "b" * 200 + ".com")),
        ["channels[0].address"],
    ),
    "phone not in E.164": (contact((SMS, "09121234567")), ["channels[0].address"]),
    "push token with spaces": (contact((PUSH, "not a token")), ["channels[0].address"]),
    "webhook that is not a URL": (
        contact((WEBHOOK, "ftp://example.com/x")),
        ["channels[0].address"],
    ),
    "webhook with credentials": (
        contact((WEBHOOK, "https://user:pw@example.com/hook")),
        ["channels[0].address"],
    ),
    "oversized webhook": (
        contact((WEBHOOK, "https://example.com/" + "x" * 2100)),
        ["channels[0].address"],
    ),
    **{
        # Refused even here, where development lets a webhook reach loopback.
        f"webhook to {where}": (contact((WEBHOOK, url)), ["channels[0].address"])
        for where, url in {
            "a private network": "https://10.0.0.1/",
            "the cloud metadata service": "https://169.254.169.254/latest/meta-data/",
            "a cluster service": "https://kubernetes.default.svc/",
            "a hex loopback": "https://0x7f000001/",
            "a mapped loopback": "https://[::ffff:127.0.0.1]/",
            "shared address space": "https://100.64.0.1/",
        }.items()
    },
    "empty address": (contact((SMS, "")), ["channels[0].address"]),
    "two bad addresses": (
        contact((EMAIL, "nope"), (SMS, "nope")),
        ["channels[0].address", "channels[1].address"],
    ),
    "channel twice": (
        contact((SMS, "+989121234567"), (SMS, "+989121234568")),
        ["channels[1].channel"],
    ),
    "channel unspecified": (
        contact((pb.CHANNEL_UNSPECIFIED, "+989121234567")),
        ["channels[0].channel"],
    ),
    "unknown channel": (contact((42, "+989121234567")), ["channels[0].channel"]),
    "too many channels": (
        contact(*[(SMS, f"+98912123456{i}") for i in range(5)]),
        ["channels"],
    ),
    "locale unspecified": (contact(locale=pb.LOCALE_UNSPECIFIED), ["locale"]),
    "unknown locale": (contact(locale=9), ["locale"]),
    "no idempotency key": (contact(idempotency_key=""), ["idempotency_key"]),
}


@pytest.mark.parametrize("case", BAD_CONTACTS, ids=list(BAD_CONTACTS))
async def test_a_bad_contact_is_refused_naming_the_field_and_nothing_is_stored(notification, case):
    request, fields = BAD_CONTACTS[case]
    patient = user()
    api = notification.api(patient)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.RegisterContact(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(refused.value) == fields
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await api.GetContact(pb.GetContactRequest())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_oversized_user_id_from_an_admin_is_refused(notification):
    service = notification.api("ops", "admin")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.RegisterContact(contact(user_id="u" * 129))
    assert violated_fields(refused.value) == ["user_id"]
    with pytest.raises(grpc.aio.AioRpcError) as unnamed:
        await service.GetContact(pb.GetContactRequest())
    assert violated_fields(unnamed.value) == ["user_id"]
    assert await notification.rows("SELECT 1 FROM contacts WHERE length(user_id) > 128") == []


BAD_INBOX_CALLS = {
    "mark nothing": ("MarkRead", pb.MarkReadRequest(idempotency_key=key()), "notification_ids"),
    "negative sequence": (
        "MarkRead",
        pb.MarkReadRequest(idempotency_key=key(), up_to_sequence=-1),
        "up_to_sequence",
    ),
    "oversized id": (
        "MarkRead",
        pb.MarkReadRequest(idempotency_key=key(), notification_ids=["x" * 200]),
        "notification_ids[0]",
    ),
    "forged page token": (
        "ListNotifications",
        pb.ListNotificationsRequest(page_token="bm90IGEgdG9rZW4"),
        "page_token",
    ),
    "negative page size": (
        "ListNotifications",
        pb.ListNotificationsRequest(page_size=-1),
        "page_size",
    ),
}


@pytest.mark.parametrize("case", BAD_INBOX_CALLS, ids=list(BAD_INBOX_CALLS))
async def test_a_bad_inbox_call_is_refused_naming_the_field(notification, case):
    method, request, field = BAD_INBOX_CALLS[case]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await getattr(notification.api(user()), method)(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(refused.value) == [field]


async def test_a_stream_from_a_negative_cursor_is_refused(notification):
    patient = user()
    stream = notification.stub().StreamNotifications(
        pb.StreamNotificationsRequest(after_sequence=-1), metadata=notification.metadata(patient)
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stream.read()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(refused.value) == ["after_sequence"]
