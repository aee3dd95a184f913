"""NotificationService over gRPC: request → command → handler → response.

Everyone's inbox and live feed are their own: the verified caller is the user, and a
notification of someone else's is NOT_FOUND. Contacts are the caller's own too, except
that services and admins (the sign-up flow, the back office) name the user.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from nobat.notification.v1 import notification_service_pb2 as pb
from nobat.notification.v1 import notification_service_pb2_grpc

from runtime import auth, errors
from runtime.handling import Handlers
from runtime.idempotency import answer_call
from runtime.wire import PageRequest
from services.notification.adapters.messages import (
    channels_from,
    contact_message,
    locale_from,
    notification_message,
)
from services.notification.domain.contact import Channel
from services.notification.domain.errors import ContactNotFound
from services.notification.handlers import COMMANDS, contacts, inbox, views
from services.notification.handlers.context import Context

PATIENT, DOCTOR, ADMIN = auth.PATIENT, auth.DOCTOR, auth.ADMIN
MAX_ID = 128
MAX_IDS = 100


def _id(value: str, field: str) -> str:
    if not value.strip():
        raise errors.InvalidArgument(field, "is required")
    if len(value) > MAX_ID:
        raise errors.InvalidArgument(field, f"must be at most {MAX_ID} characters")
    return value


def _contact_owner(requested: str, *, reading: bool) -> str:
    """Whose contact: the caller's own, or the named user's for admins."""
    caller = auth.current_caller()
    if caller.is_(ADMIN):
        return _id(requested, "user_id")
    if requested and requested != caller.subject:
        if reading:
            raise ContactNotFound(requested)
        raise errors.PermissionDenied("only admins register another user's contact")
    return caller.subject


class NotificationServicer(notification_service_pb2_grpc.NotificationServiceServicer):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.handle = Handlers(ctx, COMMANDS)

    async def RegisterContact(
        self, request: pb.RegisterContactRequest, context
    ) -> pb.RegisterContactResponse:
        if len(request.channels) > len(Channel):
            raise errors.InvalidArgument("channels", f"at most {len(Channel)}, one per channel")
        command = contacts.RegisterContact(
            user_id=_contact_owner(request.user_id, reading=False),
            locale=locale_from(request.locale),
            channels=channels_from(request.channels),
        )

        async def answer(uow) -> pb.RegisterContactResponse:
            registered = await self.handle(command, uow)
            return pb.RegisterContactResponse(
                contact=contact_message(registered.contact),
                webhook_signing_secret=registered.new_signing_secret,
            )

        return await answer_call(
            self.ctx.unit_of_work(),
            "RegisterContact",
            request,
            pb.RegisterContactResponse,
            answer,
        )

    async def GetContact(self, request: pb.GetContactRequest, context) -> pb.GetContactResponse:
        contact = await views.contact(
            self.ctx.unit_of_work(), _contact_owner(request.user_id, reading=True)
        )
        return pb.GetContactResponse(contact=contact_message(contact))

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context
    ) -> pb.ListNotificationsResponse:
        asked = PageRequest.of(request, int)
        found = await views.inbox(
            self.ctx.unit_of_work(),
            auth.current_caller().subject,
            unread_only=request.unread_only,
            before=asked.after_key,
            limit=asked.limit,
        )
        page, token = asked.cut(found, lambda notification: (notification.sequence,))
        return pb.ListNotificationsResponse(
            notifications=[notification_message(n) for n in page], next_page_token=token
        )

    async def MarkRead(self, request: pb.MarkReadRequest, context) -> pb.MarkReadResponse:
        ids = tuple(request.notification_ids)
        if len(ids) > MAX_IDS:
            raise errors.InvalidArgument("notification_ids", f"at most {MAX_IDS} at a time")
        for index, notification_id in enumerate(ids):
            _id(notification_id, f"notification_ids[{index}]")
        if request.up_to_sequence < 0:
            raise errors.InvalidArgument("up_to_sequence", "must not be negative")
        if not ids and not request.up_to_sequence:
            raise errors.InvalidArgument(
                "notification_ids", "name some notifications, or give up_to_sequence"
            )
        command = inbox.MarkRead(auth.current_caller().subject, ids, request.up_to_sequence)

        async def answer(uow) -> pb.MarkReadResponse:
            return pb.MarkReadResponse(marked_count=await self.handle(command, uow))

        return await answer_call(
            self.ctx.unit_of_work(), "MarkRead", request, pb.MarkReadResponse, answer
        )

    async def StreamNotifications(
        self, request: pb.StreamNotificationsRequest, context
    ) -> AsyncIterator[pb.StreamNotificationsResponse]:
        if request.after_sequence < 0:
            raise errors.InvalidArgument("after_sequence", "must not be negative")
        async for notification in views.follow(
            self.ctx, auth.current_caller().subject, request.after_sequence
        ):
            yield pb.StreamNotificationsResponse(notification=notification_message(notification))


# No service calls notification: it learns what to say from events.
USERS = frozenset({PATIENT, DOCTOR, ADMIN})

ACCESS = {
    "RegisterContact": USERS,
    "GetContact": USERS,
    "ListNotifications": USERS,
    "MarkRead": USERS,
    "StreamNotifications": USERS,
}
