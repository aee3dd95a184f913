"""The notification verbs: how the caller is reached and in which language, their inbox
and its live feed, and marking what they have read.

Each acts as one caller (`--as ROLE:SUBJECT`, default the demo patient): everyone's inbox
is their own.
"""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager

from nobat.notification.v1 import notification_service_pb2 as pb
from nobat.notification.v1 import notification_service_pb2_grpc

from cli import render
from cli.calls import (
    CliError,
    Connection,
    acting,
    fresh_key,
    json_flag,
    print_streamed,
    service,
    show,
)

PATIENT = "patient:patient-1"


def notification_service(args: argparse.Namespace) -> AbstractContextManager[Connection]:
    """`call(method, request)` on the notification service, as the caller `--as` names."""
    return service(args, "notification", notification_service_pb2_grpc.NotificationServiceStub)


def contact(args: argparse.Namespace) -> int:
    """Register the caller's contact (the whole of it), or show it when no address is given."""
    with notification_service(args) as call:
        if not (args.email or args.phone):
            found = call("GetContact", pb.GetContactRequest()).contact
            return show(args, found, render.contact_text)
        channels = [
            pb.ContactChannel(channel=channel, address=address, enabled=True)
            for channel, address in ((pb.CHANNEL_EMAIL, args.email), (pb.CHANNEL_SMS, args.phone))
            if address
        ]
        request = pb.RegisterContactRequest(
            idempotency_key=fresh_key(),
            locale=render.value_of(pb.Locale, args.locale),
            channels=channels,
        )
        registered = call("RegisterContact", request).contact
    return show(args, registered, render.contact_text)


def inbox(args: argparse.Namespace) -> int:
    """The newest notifications, or (--follow) every one after --after and then each new
    one as it comes, until Ctrl-C."""
    with notification_service(args) as call:
        if not args.follow:
            request = pb.ListNotificationsRequest(unread_only=args.unread, page_size=args.limit)
            reply = call("ListNotifications", request)

            def text(reply: pb.ListNotificationsResponse) -> str:
                note = render.page_note(len(reply.notifications), reply.next_page_token)
                return render.notifications_text(reply.notifications) + note

            return show(args, reply, text)
        following = pb.StreamNotificationsRequest(after_sequence=args.after)
        try:
            for reply in call.stream("StreamNotifications", following):
                if args.unread and reply.notification.HasField("read_at"):
                    continue
                print_streamed(args, reply.notification, render.notification_text)
        except KeyboardInterrupt:  # Ctrl-C ends following
            pass
    return 0


def mark_read(args: argparse.Namespace) -> int:
    if args.all == bool(args.sequences):
        raise CliError("name the notifications by number (read 3 4), or say --all")
    with notification_service(args) as call:
        if args.all:
            newest = call("ListNotifications", pb.ListNotificationsRequest(page_size=1))
            if not newest.notifications:
                print("no notifications to mark read")
                return 0
            request = pb.MarkReadRequest(
                idempotency_key=fresh_key(), up_to_sequence=newest.notifications[0].sequence
            )
        else:
            request = pb.MarkReadRequest(
                idempotency_key=fresh_key(), notification_ids=_ids_of(call, set(args.sequences))
            )
        marked = call("MarkRead", request).marked_count
    print(f"marked {marked} read" + ("" if marked else " (they were read already)"))
    return 0


def _ids_of(call: Connection, sequences: set[int]) -> list[str]:
    """The ids of the caller's notifications numbered `sequences`, from the newest back."""
    found: dict[int, str] = {}
    request = pb.ListNotificationsRequest(page_size=100)
    while True:
        reply = call("ListNotifications", request)
        found.update((n.sequence, n.id) for n in reply.notifications if n.sequence in sequences)
        oldest = reply.notifications[-1].sequence if reply.notifications else 0
        if len(found) == len(sequences) or not reply.next_page_token or oldest <= min(sequences):
            break
        request.page_token = reply.next_page_token
    missing = sorted(sequences - found.keys())
    if missing:
        raise CliError(f"no notification #{', #'.join(map(str, missing))} in the inbox")
    return [found[sequence] for sequence in sorted(sequences)]


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`contact`, `inbox` and `read`."""
    reading = [acting(PATIENT), json_flag()]

    registering = commands.add_parser(
        "contact",
        parents=reading,
        help="how you are reached and in which language (replaces it); without addresses, shows it",
    )
    registering.add_argument("--email", help="an e-mail address")
    registering.add_argument("--phone", help="for SMS, in E.164 form such as +989121234567")
    registering.add_argument(
        "--locale",
        choices=render.choices(pb.Locale),
        default="fa",
        help="the language of your notifications (default fa)",
    )
    registering.set_defaults(run=contact)

    listing = commands.add_parser(
        "inbox", parents=reading, help="your notifications, newest first; --follow for new ones"
    )
    listing.add_argument("--unread", action="store_true", help="only those not read yet")
    listing.add_argument("--limit", type=int, default=20, help="newest N (default 20, at most 100)")
    listing.add_argument(
        "--follow",
        action="store_true",
        help="print every one in order, then each new one as it comes, until Ctrl-C",
    )
    listing.add_argument(
        "--after", type=int, default=0, metavar="N", help="with --follow: only those after #N"
    )
    listing.set_defaults(run=inbox)

    marking = commands.add_parser("read", parents=[acting(PATIENT)], help="mark notifications read")
    marking.add_argument("sequences", nargs="*", type=int, metavar="SEQ", help="by number (#SEQ)")
    marking.add_argument("--all", action="store_true", help="every notification so far")
    marking.set_defaults(run=mark_read)
