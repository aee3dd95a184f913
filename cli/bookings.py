"""The booking verbs: the doctor directory and its slots, booking one (a checkout that
holds the slot while the patient pays), following the checkout to its reservation,
retrying a failed payment, and listing and cancelling reservations.

Each acts as one caller (`--as ROLE:SUBJECT`, default the demo patient), so booking
applies the same rules as to an app: a patient sees only their own checkouts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager

import grpc
from nobat.booking.v1 import booking_service_pb2 as pb
from nobat.booking.v1 import booking_service_pb2_grpc
from nobat.common.v1 import checkout_pb2

from cli import render
from cli.calls import (
    AWAITING_PAYMENT,
    Call,
    acting,
    as_caller,
    fresh_key,
    json_flag,
    service,
    show,
    watch_outcome,
    watched_checkout,
)

PATIENT = "patient:patient-1"
WALLET = checkout_pb2.PAYMENT_METHOD_WALLET


def booking_service(args: argparse.Namespace) -> AbstractContextManager[Call]:
    """`call(method, request)` on the booking service, as the caller `--as` names."""
    return service(args, "booking", booking_service_pb2_grpc.BookingServiceStub)


def list_doctors(args: argparse.Namespace) -> int:
    """Every page of the directory: it is short, and a table cut off would hide doctors."""
    found = pb.ListDoctorsResponse()
    with booking_service(args) as call:
        request = pb.ListDoctorsRequest(specialty=args.specialty or "", page_size=100)
        while True:
            reply = call("ListDoctors", request)
            found.doctors.extend(reply.doctors)
            if not reply.next_page_token:
                break
            request.page_token = reply.next_page_token
    return show(args, found, lambda listed: render.doctors_table(listed.doctors))


def list_slots(args: argparse.Namespace) -> int:
    request = pb.ListSlotsRequest(
        doctor_id=args.doctor_id,
        status=render.value_of(pb.SlotStatus, args.status),
        page_size=args.limit,
    )
    with booking_service(args) as call:
        doctor = call("GetDoctor", pb.GetDoctorRequest(doctor_id=args.doctor_id)).doctor
        reply = call("ListSlots", request)

    def text(reply: pb.ListSlotsResponse) -> str:
        note = render.page_note(len(reply.slots), reply.next_page_token, "first")
        return render.slots_table(reply.slots, doctor.time_zone) + note

    return show(args, reply, text)


def _next_step(checkout: pb.Checkout, acting_as: str) -> list[str]:
    """What the patient can do about the checkout now, as `nobat` commands (`acting_as`
    their `--as`, when it is not the default)."""
    watch = f"nobat checkout {checkout.id} --watch 30{acting_as}"
    if checkout.status == AWAITING_PAYMENT:
        return render.paying_steps(checkout, watch, "the reservation", acting_as)
    if checkout.status == checkout_pb2.CHECKOUT_STATUS_PAYMENT_FAILED:
        if not checkout.payment_failure.retryable:
            return [f"book another slot: nobat slots {checkout.doctor_id}"]
        return render.retry_steps(checkout, "retry", acting_as)
    if checkout.status == checkout_pb2.CHECKOUT_STATUS_CONFIRMED:
        return [f"see it: nobat reservations{acting_as}"]
    return []


def _checkout_text(args: argparse.Namespace) -> Callable[[pb.Checkout], str]:
    acting_as = as_caller(args, PATIENT)
    return lambda checkout: "\n".join(
        [render.checkout_text(checkout), *_next_step(checkout, acting_as)]
    )


def _pay_for(args: argparse.Namespace, rpc: str, request_type: type, **fields: str) -> int:
    """StartCheckout or RetryCheckout, with a fresh key and the `--method` asked for, and
    the checkout it answers with."""
    request = request_type(
        idempotency_key=fresh_key(),
        method=render.value_of(checkout_pb2.PaymentMethod, args.method),
        **fields,
    )
    with booking_service(args) as call:
        checkout = call(rpc, request).checkout
    return show(args, checkout, _checkout_text(args))


def book(args: argparse.Namespace) -> int:
    return _pay_for(args, "StartCheckout", pb.StartCheckoutRequest, slot_id=args.slot_id)


def show_checkout(args: argparse.Namespace) -> int:
    request = pb.GetCheckoutRequest(checkout_id=args.checkout_id)
    with booking_service(args) as call:
        checkout = watched_checkout(call, request, args.watch)
    show(args, checkout, _checkout_text(args))
    return watch_outcome(args, checkout)


def retry(args: argparse.Namespace) -> int:
    return _pay_for(args, "RetryCheckout", pb.RetryCheckoutRequest, checkout_id=args.checkout_id)


def list_reservations(args: argparse.Namespace) -> int:
    request = pb.ListReservationsRequest(
        status=render.value_of(pb.ReservationStatus, args.status), page_size=args.limit
    )
    with booking_service(args) as call:
        reply = call("ListReservations", request)
        zones = {
            doctor_id: _zone_of(call, doctor_id)
            for doctor_id in {r.doctor_id for r in reply.reservations}
        }

    def text(reply: pb.ListReservationsResponse) -> str:
        note = render.page_note(len(reply.reservations), reply.next_page_token, "first")
        return render.reservations_table(reply.reservations, zones) + note

    return show(args, reply, text)


def _zone_of(call: Call, doctor_id: str) -> str:
    """The doctor's time zone; UTC for one the caller may no longer see (a deactivated
    doctor is NOT_FOUND to patients)."""
    try:
        return call("GetDoctor", pb.GetDoctorRequest(doctor_id=doctor_id)).doctor.time_zone
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return "UTC"


def cancel(args: argparse.Namespace) -> int:
    request = pb.CancelReservationRequest(
        idempotency_key=fresh_key(),
        reservation_id=args.reservation_id,
        reason=args.reason or "",
    )
    with booking_service(args) as call:
        reservation = call("CancelReservation", request).reservation
    return show(args, reservation, render.cancellation_text)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`doctors`, `slots`, `book`, `checkout`, `retry`, `reservations` and `cancel`."""
    reading = [acting(PATIENT), json_flag()]

    def limited(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=20, help="first N by start time (default 20, at most 100)"
        )

    def method(parser: argparse.ArgumentParser, default: str | None, meaning: str) -> None:
        methods = render.choices(checkout_pb2.PaymentMethod)
        parser.add_argument("--method", choices=methods, default=default, help=meaning)

    def statuses(parser: argparse.ArgumentParser, enum) -> None:
        known = render.choices(enum)
        parser.add_argument(
            "--status", choices=known, metavar="STATUS", help=f"one of {', '.join(known)}"
        )

    def verb(
        name: str, run: Callable[[argparse.Namespace], int], meaning: str, *positionals: str
    ) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, parents=reading, help=meaning)
        for positional in positionals:
            parser.add_argument(positional)
        parser.set_defaults(run=run)
        return parser

    listing = verb("doctors", list_doctors, "the doctor directory")
    listing.add_argument("--specialty", help="only this specialty (exact match)")

    slots = verb(
        "slots", list_slots, "a doctor's upcoming slots, in their time and UTC", "doctor_id"
    )
    statuses(slots, pb.SlotStatus)
    limited(slots)

    booking = verb("book", book, "hold a slot and start paying for it (a checkout)", "slot_id")
    method(booking, "gateway", "how to pay (default gateway)")

    following = verb(
        "checkout",
        show_checkout,
        "where a checkout stands: paid, failed, confirmed…",
        "checkout_id",
    )
    following.add_argument(
        "--watch",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for it to leave AWAITING_PAYMENT",
    )

    retrying = verb("retry", retry, "a new payment attempt on a failed checkout", "checkout_id")
    method(retrying, None, "switch to this method (default the checkout's)")

    reservations = verb(
        "reservations", list_reservations, "the caller's reservations, by start time"
    )
    statuses(reservations, pb.ReservationStatus)
    limited(reservations)

    cancelling = verb(
        "cancel", cancel, "cancel a reservation; shows the refund granted", "reservation_id"
    )
    cancelling.add_argument("--reason", help="free text kept with the cancellation")
