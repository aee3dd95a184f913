"""The consultation verbs: an intake and its triage, a checkout that pays for the offer
chosen, following it to the clinical session it opens, the symptoms that make the
consultation and give it to a doctor on shift, the doctor's answer, and the chat.

Each acts as one caller (`--as ROLE:SUBJECT`): the patient's verbs as the demo patient by
default, the doctor's (`accept`, `decline`, `complete`) as doctor-1, so consultation
applies the same rules as to an app: each sees only their own consultations.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from contextlib import AbstractContextManager

from google.protobuf import json_format
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.common.v1 import checkout_pb2
from nobat.consultation.v1 import consultation_service_pb2 as pb
from nobat.consultation.v1 import consultation_service_pb2_grpc

from cli import render
from cli.bookings import booking_service
from cli.calls import (
    RPC_TIMEOUT,
    Connection,
    acting,
    as_caller,
    fresh_key,
    json_flag,
    print_streamed,
    service,
    show,
    status_filter,
    watch_outcome,
    watched_checkout,
)

PATIENT = "patient:patient-1"
DOCTOR = "doctor:doctor-1"
CONFIRMED = checkout_pb2.CHECKOUT_STATUS_CONFIRMED
# `chat` without --say or --follow prints the conversation so far: what the stream sends
# before it has been quiet this long.
QUIET_SECONDS = 1.0
SYMPTOM_FORM = "CODE[:SEVERITY[:DAYS]]"


def consultation_service(args: argparse.Namespace) -> AbstractContextManager[Connection]:
    """`call(method, request)` on the consultation service, as the caller `--as` names."""
    return service(args, "consultation", consultation_service_pb2_grpc.ConsultationServiceStub)


def symptom(text: str) -> pb.ReportedSymptom:
    """`cough`, `fever:severe`, `cough::4` or `headache:mild:2` as a reported symptom."""
    code, _, rest = text.partition(":")
    severity, _, days = rest.partition(":")
    severities = render.choices(pb.SymptomSeverity)
    if not code or (severity and severity not in severities) or (days and not days.isdigit()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {SYMPTOM_FORM}, SEVERITY one of {', '.join(severities)}"
            " and DAYS a whole number"
        )
    return pb.ReportedSymptom(
        code=code,
        severity=render.value_of(pb.SymptomSeverity, severity or None),
        days_since_onset=int(days or 0),
    )


def intake(args: argparse.Namespace) -> int:
    request = pb.StartIntakeRequest(
        idempotency_key=fresh_key(),
        complaint=args.complaint,
        symptoms=args.symptoms,
        age_years=args.age,
        sex=render.value_of(pb.Sex, args.sex),
    )
    with consultation_service(args) as call:
        started = call("StartIntake", request).intake

    def text(started: pb.Intake) -> str:
        lines = [render.intake_text(started)]
        if started.offers:
            kind = render.label(pb.ConsultationType, started.offers[0].type).lower()
            lines.append(
                f"consult: nobat consult {started.id} --type {kind}"
                f" [--doctor D] [--method wallet]{as_caller(args, PATIENT)}"
            )
        return "\n".join(lines)

    return show(args, started, text)


def _checkout_steps(checkout: pb.Checkout, acting_as: str) -> list[str]:
    """What the patient can do about the checkout now, as `nobat` commands."""
    watch = f"nobat consult-status {checkout.id} --watch 30{acting_as}"
    return [
        *render.paying_steps(checkout, watch, "the clinical session", acting_as),
        *render.retry_steps(checkout, "consult-retry", acting_as),
    ]


def _show_checkout(args: argparse.Namespace, checkout: pb.Checkout) -> int:
    acting_as = as_caller(args, PATIENT)
    return show(
        args,
        checkout,
        lambda c: "\n".join([render.consultation_checkout_text(c), *_checkout_steps(c, acting_as)]),
    )


def consult(args: argparse.Namespace) -> int:
    request = pb.StartCheckoutRequest(
        idempotency_key=fresh_key(),
        intake_id=args.intake_id,
        type=render.value_of(pb.ConsultationType, args.type),
        doctor_id=args.doctor or "",
        method=render.value_of(checkout_pb2.PaymentMethod, args.method),
    )
    with consultation_service(args) as call:
        checkout = call("StartCheckout", request).checkout
    return _show_checkout(args, checkout)


def consult_retry(args: argparse.Namespace) -> int:
    """A new payment attempt on a failed consultation checkout, on another method if asked."""
    request = pb.RetryCheckoutRequest(
        idempotency_key=fresh_key(),
        checkout_id=args.checkout_id,
        method=render.value_of(checkout_pb2.PaymentMethod, args.method),
    )
    with consultation_service(args) as call:
        checkout = call("RetryCheckout", request).checkout
    return _show_checkout(args, checkout)


def _session_steps(session: pb.ClinicalSession, acting_as: str) -> list[str]:
    if session.status == pb.CLINICAL_SESSION_STATUS_AWAITING_SYMPTOMS:
        return [
            f'describe them: nobat symptoms {session.id} "DETAILS"'
            f" --symptom {SYMPTOM_FORM} …{acting_as}"
        ]
    if session.status == pb.CLINICAL_SESSION_STATUS_SYMPTOMS_SUBMITTED:
        return [f"chat: nobat chat {session.consultation_id} --say TEXT{acting_as}"]
    return []


def consult_status(args: argparse.Namespace) -> int:
    """The checkout, and once it is confirmed the clinical session it opened."""
    request = pb.GetCheckoutRequest(checkout_id=args.checkout_id)
    with consultation_service(args) as call:
        checkout = watched_checkout(call, request, args.watch)
        session = None
        if checkout.status == CONFIRMED:
            session = call(
                "GetClinicalSession",
                pb.GetClinicalSessionRequest(clinical_session_id=checkout.clinical_session_id),
            ).clinical_session
    acting_as = as_caller(args, PATIENT)
    if args.json:
        both = {"checkout": json_format.MessageToDict(checkout)}
        if session is not None:
            both["clinicalSession"] = json_format.MessageToDict(session)
        print(json.dumps(both, indent=2))
    else:
        lines = [render.consultation_checkout_text(checkout), *_checkout_steps(checkout, acting_as)]
        if session is not None:
            lines += [render.clinical_session_text(session), *_session_steps(session, acting_as)]
        print("\n".join(lines))
    return watch_outcome(args, checkout)


def submit_symptoms(args: argparse.Namespace) -> int:
    request = pb.SubmitSymptomsRequest(
        idempotency_key=fresh_key(),
        clinical_session_id=args.session_id,
        details=args.details,
        symptoms=args.symptoms,
    )
    with consultation_service(args) as call:
        consultation = call("SubmitSymptoms", request).consultation
    acting_as = as_caller(args, PATIENT)

    def text(c: pb.Consultation) -> str:
        follow = f"nobat chat {c.id} --follow{acting_as}"
        return f"{render.consultation_text(c)}\nonce a doctor accepts it: {follow}"

    return show(args, consultation, text)


def list_consultations(args: argparse.Namespace) -> int:
    request = pb.ListConsultationsRequest(
        status=render.value_of(pb.ConsultationStatus, args.status), page_size=args.limit
    )
    with consultation_service(args) as call:
        reply = call("ListConsultations", request)

    return show(args, reply, render.paged("consultations", render.consultations_table))


def list_checkouts(args: argparse.Namespace) -> int:
    """The caller's checkouts in booking and consultation (or the one --of names), each
    newest first: what they are paying or paid for, from any device."""
    status = render.value_of(checkout_pb2.CheckoutStatus, args.status)
    found: list = []
    replies = {}
    for context, connect, protos in (
        ("booking", booking_service, bpb),
        ("consultation", consultation_service, pb),
    ):
        if args.of in (None, context):
            request = protos.ListCheckoutsRequest(status=status, page_size=args.limit)
            with connect(args) as call:
                replies[context] = reply = call("ListCheckouts", request)
            found += [(context, checkout) for checkout in reply.checkouts]
    if args.json:
        print(json.dumps({k: json_format.MessageToDict(v) for k, v in replies.items()}, indent=2))
        return 0
    cut = any(reply.next_page_token for reply in replies.values())
    print(render.checkouts_table(found) + render.page_note(args.limit, "more" if cut else ""))
    return 0


def list_sessions(args: argparse.Namespace) -> int:
    request = pb.ListClinicalSessionsRequest(
        status=render.value_of(pb.ClinicalSessionStatus, args.status), page_size=args.limit
    )
    with consultation_service(args) as call:
        reply = call("ListClinicalSessions", request)

    return show(args, reply, render.paged("clinical_sessions", render.clinical_sessions_table))


def _answer(rpc: str, request_type: type, **fields: str) -> Callable[[argparse.Namespace], int]:
    """A doctor's (or the patient's) verb: `rpc` on the consultation named, with `fields`
    taken from the arguments of those names (`notes` from --notes)."""

    def run(args: argparse.Namespace) -> int:
        request = request_type(
            idempotency_key=fresh_key(),
            consultation_id=args.consultation_id,
            **{field: getattr(args, name) or "" for field, name in fields.items()},
        )
        with consultation_service(args) as call:
            consultation = call(rpc, request).consultation
        acting_as = as_caller(args, PATIENT)  # as `chat` needs it: its default is the patient

        def text(c: pb.Consultation) -> str:
            lines = [render.consultation_text(c)]
            if c.status == pb.CONSULTATION_STATUS_IN_PROGRESS:
                lines.append(f"chat: nobat chat {c.id} --say TEXT{acting_as}")
            return "\n".join(lines)

        return show(args, consultation, text)

    return run


def chat(args: argparse.Namespace) -> int:
    """Say something, and print the conversation after --after: up to what was said, or
    what has come until the stream falls quiet, or (--follow) until Ctrl-C."""
    with consultation_service(args) as call:
        said = 0
        if args.say:
            said = call(
                "PostMessage",
                pb.PostMessageRequest(
                    idempotency_key=fresh_key(), consultation_id=args.consultation_id, text=args.say
                ),
            ).message.sequence
        if said and said <= args.after and not args.follow:
            return 0
        request = pb.StreamMessagesRequest(
            consultation_id=args.consultation_id, after_sequence=args.after
        )
        # Without --follow: until what was said comes back, or the stream falls quiet.
        quiet = None if args.follow else RPC_TIMEOUT if said else QUIET_SECONDS
        try:
            for reply in call.stream("StreamMessages", request, quiet):
                print_streamed(args, reply.message, render.chat_line)
                if said and not args.follow and reply.message.sequence >= said:
                    break
        except KeyboardInterrupt:  # Ctrl-C ends following
            pass
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`intake`, `consult`, `consult-status`, `symptoms`, `consultations`, `checkouts`,
    `sessions`, `consult-cancel`, `accept`, `decline`, `complete` and `chat`."""
    patient, doctor, as_json = acting(PATIENT), acting(DOCTOR), json_flag()

    def verb(name, run, meaning, *positionals, caller=patient) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, parents=[caller, as_json], help=meaning)
        for positional in positionals:
            parser.add_argument(positional)
        parser.set_defaults(run=run)
        return parser

    def symptoms(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--symptom",
            dest="symptoms",
            type=symptom,
            action="append",
            default=[],
            metavar=SYMPTOM_FORM,
            help="a symptom code from the triage rules (cough, fever, chest_pain, …), how bad"
            " (mild, moderate, severe) and for how many days; repeat for each",
        )

    intaking = verb(
        "intake", intake, "describe a complaint: the triage and what is offered", "complaint"
    )
    symptoms(intaking)
    intaking.add_argument("--age", type=int, required=True, help="in whole years")
    intaking.add_argument("--sex", choices=render.choices(pb.Sex))

    consulting = verb(
        "consult", consult, "start paying for an offer of an intake (a checkout)", "intake_id"
    )
    consulting.add_argument(
        "--type", choices=render.choices(pb.ConsultationType), required=True, help="the offer"
    )
    consulting.add_argument("--doctor", help="a doctor of the directory (default: assigned)")
    consulting.add_argument(
        "--method",
        choices=render.choices(checkout_pb2.PaymentMethod),
        default="gateway",
        help="how to pay (default gateway)",
    )

    retrying = verb(
        "consult-retry",
        consult_retry,
        "a new payment attempt on a failed consultation checkout",
        "checkout_id",
    )
    retrying.add_argument(
        "--method",
        choices=render.choices(checkout_pb2.PaymentMethod),
        help="switch to this method (default the checkout's)",
    )

    status = verb(
        "consult-status",
        consult_status,
        "where a consultation checkout stands, and the clinical session it opened",
        "checkout_id",
    )
    status.add_argument(
        "--watch",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for it to leave AWAITING_PAYMENT",
    )

    describing = verb(
        "symptoms",
        submit_symptoms,
        "the symptoms in detail: makes the consultation and gives it to a doctor",
        "session_id",
        "details",
    )
    symptoms(describing)

    listing = verb("consultations", list_consultations, "the caller's consultations, newest first")
    status_filter(listing, pb.ConsultationStatus)
    listing.add_argument("--limit", type=int, default=20, help="newest N (default 20, at most 100)")

    listing = verb(
        "checkouts", list_checkouts, "your checkouts, booking's and consultation's, newest first"
    )
    listing.add_argument("--of", choices=["booking", "consultation"], help="only this one's")
    status_filter(listing, checkout_pb2.CheckoutStatus)
    listing.add_argument("--limit", type=int, default=20, help="newest N (default 20, at most 100)")

    listing = verb(
        "sessions", list_sessions, "your clinical sessions (paid; symptoms due), newest first"
    )
    status_filter(listing, pb.ClinicalSessionStatus)
    listing.add_argument("--limit", type=int, default=20, help="newest N (default 20, at most 100)")

    answer = _answer("CancelConsultation", pb.CancelConsultationRequest)
    verb(
        "consult-cancel",
        answer,
        "withdraw a paid consultation no doctor has accepted yet: refunded in full",
        "consultation_id",
    )

    answer = _answer("AcceptConsultation", pb.AcceptConsultationRequest)
    verb("accept", answer, "take a consultation assigned to you", "consultation_id", caller=doctor)
    answer = _answer("DeclineConsultation", pb.DeclineConsultationRequest, reason="reason")
    declining = verb(
        "decline",
        answer,
        "pass a consultation on (or refund it when nobody is on shift)",
        "consultation_id",
        caller=doctor,
    )
    declining.add_argument("--reason", help="kept with the consultation for the record")
    answer = _answer("CompleteConsultation", pb.CompleteConsultationRequest, notes="notes")
    completing = verb(
        "complete", answer, "close a consultation you took", "consultation_id", caller=doctor
    )
    completing.add_argument("--notes", help="your notes for the patient")

    chatting = verb("chat", chat, "say something and read the conversation", "consultation_id")
    chatting.add_argument("--say", help="post this first")
    chatting.add_argument(
        "--follow", action="store_true", help="keep printing new messages until Ctrl-C"
    )
    chatting.add_argument(
        "--after", type=int, default=0, metavar="N", help="only the messages after number N"
    )
