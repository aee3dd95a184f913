"""How the verbs print: money in major units, enum values without their prefix, times in
UTC (and appointments also in the doctor's own zone), and plain aligned tables."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.message import Message
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.notification.v1 import notification_service_pb2 as npb
from nobat.payment.v1 import payment_service_pb2 as pb

from runtime.errors import DomainError
from runtime.money import Money

if TYPE_CHECKING:
    # The stubs' generic wrapper, which each generated enum's metaclass specialises to
    # its own ValueType; it exists only in the stubs.
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

NOTHING = "-"
# A proto enum's value type (its generated ValueType, an int).
V = TypeVar("V", bound=int)


def money(amount: money_pb2.Money) -> str:
    """Minor units in major ones, by the currency's exponent: 1234 USD is "12.34 USD",
    1234 KWD "1.234 KWD", 1234 IRR "1234 IRR". The one place the CLI formats money."""
    try:
        return str(Money(amount.amount_minor, amount.currency))
    except DomainError:  # a currency this nobat does not know: say what came
        return f"{amount.amount_minor} minor units of {amount.currency or '?'}"


def _prefix(enum: _EnumTypeWrapper[V]) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.DESCRIPTOR.name).upper() + "_"


def label(enum: _EnumTypeWrapper[V], value: V) -> str:
    """PAYMENT_STATUS_SUCCEEDED as SUCCEEDED."""
    try:
        return enum.Name(value).removeprefix(_prefix(enum))
    except ValueError:  # a value newer than these protos
        return str(value)


def choices(enum: _EnumTypeWrapper[V]) -> list[str]:
    """The values of an enum as a command line takes them: succeeded, requires_payment, …"""
    return [label(enum, value).lower() for value in enum.values() if value]


def value_of(enum: _EnumTypeWrapper[V], choice: str | None) -> V:
    """The enum value of one of `choices(enum)`; none given is UNSPECIFIED (0)."""
    return enum.Value(_prefix(enum) + choice.upper()) if choice else cast(V, 0)


def page_note(shown: int, next_page_token: str, which: str = "newest") -> str:
    """The line under a list cut off at --limit: `(the newest 20; --limit shows up to 100)`."""
    if not next_page_token:
        return ""
    return f"\n(the {which} {shown}; --limit shows up to 100)"


def paged(
    rows: str, table: Callable[[Sequence[Any]], str], which: str = "newest"
) -> Callable[[Message], str]:
    """The text of a List answer: `table` of its `rows` field, the page note under it."""

    def text(reply: Message) -> str:
        items = getattr(reply, rows)
        # Every List answer has a next_page_token.
        return table(items) + page_note(len(items), reply.next_page_token, which)  # type: ignore[attr-defined]

    return text


def when(message: Message, field: str) -> str:
    if not message.HasField(field):
        return NOTHING
    stamp = getattr(message, field).ToDatetime(tzinfo=UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Collection[int] = (),
    empty: str = NOTHING,
) -> str:
    """Columns two spaces apart, those numbered in `right` (amounts) right-aligned; `empty`
    when there are no rows."""
    if not rows:
        return empty
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)


def attempt_summary(attempt: pb.PaymentAttempt) -> str:
    """`#2 GATEWAY FAILED insufficient_funds`."""
    parts = [
        f"#{attempt.number}",
        label(checkout_pb2.PaymentMethod, attempt.method),
        label(pb.AttemptStatus, attempt.status),
    ]
    if attempt.failure.code:
        parts.append(attempt.failure.code)
    return " ".join(parts)


def status_line(payment: pb.Payment) -> str:
    """`payment pay_… is REQUIRES_PAYMENT (#1 GATEWAY FAILED card_declined)`."""
    line = f"payment {payment.id} is {label(pb.PaymentStatus, payment.status)}"
    if payment.attempts:
        line += f" ({attempt_summary(payment.attempts[-1])})"
    return line


def payments_table(payments: Sequence[pb.Payment]) -> str:
    return table(
        ["ID", "PATIENT", "PURCHASE", "AMOUNT", "STATUS", "LAST ATTEMPT", "CREATED"],
        [
            [
                p.id,
                p.patient_id,
                f"{p.purchase.kind}/{p.purchase.ref}",
                money(p.amount),
                label(pb.PaymentStatus, p.status),
                attempt_summary(p.attempts[-1]) if p.attempts else NOTHING,
                when(p, "created_at"),
            ]
            for p in payments
        ],
        right={3},
        empty="no payments",
    )


def payment_text(p: pb.Payment) -> str:
    """One payment in full: what it pays for, its state, attempts, payee lines, refunds."""
    fields = [
        ("payment", p.id),
        ("purchase", f"{p.purchase.kind}/{p.purchase.ref}"),
        ("patient", p.patient_id),
        ("amount", money(p.amount)),
        ("status", label(pb.PaymentStatus, p.status)),
        ("method", label(checkout_pb2.PaymentMethod, p.method)),
        ("checkout", p.checkout_url or NOTHING),
        ("description", p.description or NOTHING),
        ("created", when(p, "created_at")),
        ("expires", when(p, "expires_at")),
        ("confirmed", when(p, "confirmed_at")),
        ("refunded", money(p.refunded) if p.HasField("refunded") else NOTHING),
    ]
    out = [f"{name:<12} {value}" for name, value in fields]
    out += _section(
        "attempts",
        ["#", "METHOD", "STATUS", "FAILURE", "GATEWAY REF", "CREATED"],
        [
            [
                str(a.number),
                label(checkout_pb2.PaymentMethod, a.method),
                label(pb.AttemptStatus, a.status),
                a.failure.code or NOTHING,
                a.gateway_ref or NOTHING,
                when(a, "created_at"),
            ]
            for a in p.attempts
        ],
    )
    out += _section(
        "lines",
        ["PAYEE", "ID", "AMOUNT", "DESCRIPTION"],
        [
            [
                label(pb.PayeeKind, line.payee_kind),
                line.payee_id or NOTHING,
                money(line.amount),
                line.description or NOTHING,
            ]
            for line in p.lines
        ],
        right={2},
    )
    out += _section(
        "refunds",
        ["ID", "AMOUNT", "STATUS", "REASON", "TO", "CREATED"],
        [
            [
                r.id,
                money(r.amount),
                label(pb.RefundStatus, r.status),
                r.reason or NOTHING,
                label(pb.RefundDestination, r.destination),
                when(r, "created_at"),
            ]
            for r in p.refunds
        ],
        right={1},
    )
    return "\n".join(out)


def payment_events_table(events: Sequence[pb.PaymentEvent]) -> str:
    """A payment's trail, oldest first: when, what, the status it left, who and from where."""
    return table(
        ["at", "action", "status", "by", "from", "reason"],
        [
            [
                when(e, "at"),
                e.action or NOTHING,
                label(pb.PaymentStatus, e.status),
                f"{e.actor_id} ({e.actor_role})" if e.actor_id else NOTHING,
                " ".join(part for part in (e.client_address, e.user_agent) if part) or NOTHING,
                e.reason or NOTHING,
            ]
            for e in events
        ],
        empty="no events",
    )


def checkouts_table(found: Sequence[tuple[str, bpb.Checkout | cpb.Checkout]]) -> str:
    """(context, checkout) rows, as `nobat checkouts` lists both contexts' together."""
    return table(
        ["of", "checkout", "status", "price", "created", "payment"],
        [
            [
                context,
                c.id,
                label(checkout_pb2.CheckoutStatus, c.status),
                money(c.price),
                when(c, "created_at"),
                c.payment_id or NOTHING,
            ]
            for context, c in found
        ],
        right={3},
        empty="no checkouts",
    )


def clinical_sessions_table(sessions: Sequence[cpb.ClinicalSession]) -> str:
    return "\n".join(clinical_session_text(s) for s in sessions) or "no clinical sessions"


def _section(
    title: str, headers: list[str], rows: list[list[str]], right: Collection[int] = ()
) -> list[str]:
    if not rows:
        return [f"{title:<12} {NOTHING}"]
    return [f"{title}:", *("  " + line for line in table(headers, rows, right).splitlines())]


def wallet_text(wallet: pb.Wallet) -> str:
    if not wallet.balances:
        return f"wallet of {wallet.patient_id}: empty"
    balances = [money(balance) for balance in wallet.balances]
    width = max(map(len, balances))
    return "\n".join(
        [
            f"wallet of {wallet.patient_id}:",
            *(f"  {balance:>{width}}" for balance in balances),
            f"updated {when(wallet, 'updated_at')}",
        ]
    )


def wallet_history_table(transactions: Sequence[pb.WalletTransaction]) -> str:
    return table(
        ["WHEN", "KIND", "AMOUNT", "BALANCE AFTER", "PAYMENT"],
        [
            [
                when(t, "created_at"),
                label(pb.WalletTransactionKind, t.kind),
                money(t.amount),
                money(t.balance_after),
                t.payment_id or NOTHING,
            ]
            for t in transactions
        ],
        right={2, 3},
        empty="no wallet transactions",
    )


def disputes_table(disputes: Sequence[pb.Dispute]) -> str:
    return table(
        ["PAYMENT", "DISPUTE", "AMOUNT", "REASON", "STATUS", "OPENED", "CLOSED"],
        [
            [
                d.payment_id,
                d.gateway_ref,
                money(d.amount),
                d.reason,
                label(pb.DisputeStatus, d.status),
                when(d, "opened_at"),
                when(d, "closed_at"),
            ]
            for d in disputes
        ],
        right={2},
        empty="no disputes",
    )


def payouts_table(payouts: Sequence[pb.Payout]) -> str:
    return table(
        [
            "PAYMENT",
            "DOCTOR",
            "GROSS",
            "PLATFORM FEE",
            "GATEWAY FEE",
            "NET",
            "STATUS",
            "RELEASE AT",
        ],
        [
            [
                p.payment_id,
                p.doctor_id,
                money(p.gross),
                money(p.platform_fee),
                money(p.gateway_fee),
                money(p.net),
                label(pb.PayoutStatus, p.status),
                when(p, "release_at"),
            ]
            for p in payouts
        ],
        right={2, 3, 4, 5},
        empty="no payouts",
    )


def local_time(message: Message, field: str, zone: str) -> str:
    """An instant as a clock in `zone` shows it: "Sat 2025-01-18 09:00 +0330"."""
    if not message.HasField(field):
        return NOTHING
    try:
        there: tzinfo = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):  # no zone, or one this machine lacks
        there = UTC
    stamp: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    return stamp.astimezone(there).strftime("%a %Y-%m-%d %H:%M %Z")


def doctors_table(doctors: Sequence[bpb.Doctor]) -> str:
    return table(
        ["ID", "NAME", "SPECIALTY", "ZONE", "FEE"],
        [
            [d.id, d.display_name, d.specialty, d.time_zone, money(d.appointment_fee)]
            for d in doctors
        ],
        right={4},
        empty="no doctors",
    )


def slots_table(slots: Sequence[bpb.Slot], zone: str) -> str:
    """Start times in the doctor's zone and in UTC."""
    return table(
        ["ID", f"STARTS ({zone})", "UTC", "STATUS", "FEE"],
        [
            [
                s.id,
                local_time(s, "starts_at", zone),
                when(s, "starts_at"),
                label(bpb.SlotStatus, s.status),
                money(s.fee),
            ]
            for s in slots
        ],
        right={4},
        empty="no slots",
    )


def _checkout_line(c: bpb.Checkout | cpb.Checkout, notes: Mapping[int, str], refunds) -> str:
    """`checkout … is STATUS` and what the status says: why the payment failed and whether
    it can be tried again, why it was refunded (`refunds` the reason's enum), or the
    `notes` of the status."""
    line = f"checkout {c.id} is {label(checkout_pb2.CheckoutStatus, c.status)}"
    if c.status == checkout_pb2.CHECKOUT_STATUS_PAYMENT_FAILED:
        failure = c.payment_failure
        retryable = "retryable" if failure.retryable else "not retryable"
        line += f" ({failure.code or 'no code'}, {retryable})"
        if failure.message:
            line += f": {failure.message}"
    elif c.status == checkout_pb2.CHECKOUT_STATUS_REFUNDED:
        line += f" ({label(refunds, c.refund_reason)}): the payment is refunded in full"
    return line + notes.get(c.status, "")


def paying_steps(
    c: bpb.Checkout | cpb.Checkout, watch: str, then: str, acting_as: str
) -> list[str]:
    """While a checkout awaits payment, what to do about it as `nobat` commands: pay it on
    the gateway's page, then `watch` it; or, paid from the wallet, `watch` for what comes
    `then`. `acting_as` is the caller's `--as`, when it is not the verb's default."""
    if c.status != checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT:
        return []
    if c.checkout_url:
        return [
            f"checkout page: {c.checkout_url}",
            f"pay it: nobat pay {c.checkout_url}{acting_as}",
            f"then: {watch}",
        ]
    if c.method == checkout_pb2.PAYMENT_METHOD_WALLET:
        return [f"paid from the wallet; {then} follows in a moment: {watch}"]
    return []


def retry_steps(c: bpb.Checkout | cpb.Checkout, verb: str, acting_as: str) -> list[str]:
    """After a failure the patient may retry, `nobat VERB` on the same checkout, on the
    other method if they like (a short wallet switches to the gateway)."""
    if c.status != checkout_pb2.CHECKOUT_STATUS_PAYMENT_FAILED or not c.payment_failure.retryable:
        return []
    other = "gateway" if c.method == checkout_pb2.PAYMENT_METHOD_WALLET else "wallet"
    return [f"try again: nobat {verb} {c.id} [--method {other}]{acting_as}"]


def checkout_text(c: bpb.Checkout) -> str:
    """`checkout … is PAYMENT_FAILED (card_declined, retryable)` and what it buys."""
    line = _checkout_line(
        c,
        {
            checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT: (
                f", the slot held until {when(c, 'hold_expires_at')}"
            ),
            checkout_pb2.CHECKOUT_STATUS_CONFIRMED: f": reservation {c.reservation_id}",
            checkout_pb2.CHECKOUT_STATUS_EXPIRED: ": the hold ran out before it was paid",
        },
        bpb.RefundReason,
    )
    method = label(checkout_pb2.PaymentMethod, c.method)
    return f"{line}\n{money(c.price)} by {method} for slot {c.slot_id} with {c.doctor_id}"


def reservations_table(reservations: Sequence[bpb.Reservation], zones: Mapping[str, str]) -> str:
    """Start times in each doctor's zone (`zones` by doctor id) and in UTC."""
    return table(
        ["ID", "DOCTOR", "STARTS (DOCTOR'S TIME)", "UTC", "STATUS", "PRICE", "REFUND"],
        [
            [
                r.id,
                r.doctor_id,
                local_time(r, "starts_at", zones.get(r.doctor_id, "UTC")),
                when(r, "starts_at"),
                label(bpb.ReservationStatus, r.status),
                money(r.price),
                money(r.cancellation.refund) if r.HasField("cancellation") else NOTHING,
            ]
            for r in reservations
        ],
        right={5, 6},
        empty="no reservations",
    )


def cancellation_text(r: bpb.Reservation) -> str:
    """`reservation … is CANCELLED by PATIENT (ill)` and the refund the policy granted."""
    cancellation = r.cancellation
    by = label(bpb.CancelledBy, cancellation.cancelled_by)
    line = f"reservation {r.id} is {label(bpb.ReservationStatus, r.status)} by {by}"
    if cancellation.reason:
        line += f" ({cancellation.reason})"
    refund, paid = cancellation.refund.amount_minor, r.price.amount_minor
    share = "in full" if refund == paid else "nothing" if refund == 0 else "in part"
    return f"{line}\nrefund: {money(cancellation.refund)} of the {money(r.price)} paid ({share})"


def _kind(value: cpb.ConsultationType.ValueType) -> str:
    """A consultation type as a command line takes it: chat, video, emergency."""
    return label(cpb.ConsultationType, value).lower()


def intake_text(intake: cpb.Intake) -> str:
    """The triage (likely conditions, urgency, red flags with their advice) and the offers
    with their prices, or the emergency advice when nothing is offered."""
    triage = intake.triage
    out = [
        f"intake {intake.id}: urgency {label(cpb.Urgency, triage.urgency)}"
        f" (triage rules {triage.rules_version or NOTHING})"
    ]
    out += _section(
        "likely conditions",
        ["CONDITION", "CODE", "SCORE"],
        [[c.name, c.code, str(c.score)] for c in triage.likely_conditions],
        right={2},
    )
    if triage.red_flags:
        out += ["red flags:", *(f"  {f.symptom_code}: {f.advice}" for f in triage.red_flags)]
    else:
        out.append(f"{'red flags':<12} {NOTHING}")
    if intake.offers:
        out += _section(
            "offers",
            ["TYPE", "PRICE"],
            [[_kind(offer.type), money(offer.price)] for offer in intake.offers],
            right={1},
        )
        out.append(f"{'until':<12} {when(intake, 'expires_at')}")
    elif triage.emergency_care_advised:
        out.append("seek emergency care in person now: no online consultation is offered for this")
    else:
        out.append(f"{'offers':<12} none")
    return "\n".join(out)


def consultation_checkout_text(c: cpb.Checkout) -> str:
    """`checkout … is CONFIRMED: clinical session …` and what it buys."""
    line = _checkout_line(
        c,
        {
            checkout_pb2.CHECKOUT_STATUS_AWAITING_PAYMENT: (
                f", to be paid by {when(c, 'expires_at')}"
            ),
            checkout_pb2.CHECKOUT_STATUS_CONFIRMED: f": clinical session {c.clinical_session_id}",
            checkout_pb2.CHECKOUT_STATUS_EXPIRED: ": it ran out before it was paid",
        },
        cpb.RefundReason,
    )
    method = label(checkout_pb2.PaymentMethod, c.method)
    doctor = f" with {c.doctor_id}" if c.doctor_id else ""
    return (
        f"{line}\n{money(c.price)} by {method} for a {_kind(c.type)} consultation{doctor}"
        f" (intake {c.intake_id})"
    )


def clinical_session_text(s: cpb.ClinicalSession) -> str:
    """`clinical session … is AWAITING_SYMPTOMS until …`, or the consultation it made."""
    line = f"clinical session {s.id} is {label(cpb.ClinicalSessionStatus, s.status)}"
    if s.status == cpb.CLINICAL_SESSION_STATUS_AWAITING_SYMPTOMS:
        line += f": the symptoms are due by {when(s, 'expires_at')}"
    elif s.status == cpb.CLINICAL_SESSION_STATUS_SYMPTOMS_SUBMITTED:
        line += f": consultation {s.consultation_id}"
    elif s.status == cpb.CLINICAL_SESSION_STATUS_EXPIRED:
        line += ": no symptoms came in time, and the payment is refunded in full"
    return line


def consultation_text(c: cpb.Consultation) -> str:
    """`consultation … is IN_PROGRESS with doctor-1`, or waiting for a doctor on shift, or
    refunded and why; then what it is and the doctor's notes."""
    line = f"consultation {c.id} is {label(cpb.ConsultationStatus, c.status)}"
    if c.status == cpb.CONSULTATION_STATUS_WAITING_FOR_DOCTOR:
        line += ": waiting for a doctor on shift"
    elif c.status == cpb.CONSULTATION_STATUS_REFUNDED:
        line += f" ({label(cpb.RefundReason, c.refund_reason)}): the payment is refunded in full"
    elif c.doctor_id:
        line += f" with {c.doctor_id}"
    urgency = label(cpb.Urgency, c.triage.urgency)
    out = [line, f"{_kind(c.type)} consultation for {c.patient_id}, urgency {urgency}"]
    if c.notes:
        out.append(f"notes: {c.notes}")
    return "\n".join(out)


def consultations_table(consultations: Sequence[cpb.Consultation]) -> str:
    return table(
        ["ID", "TYPE", "STATUS", "PATIENT", "DOCTOR", "CREATED"],
        [
            [
                c.id,
                _kind(c.type),
                label(cpb.ConsultationStatus, c.status),
                c.patient_id,
                c.doctor_id or NOTHING,
                when(c, "created_at"),
            ]
            for c in consultations
        ],
        empty="no consultations",
    )


def chat_line(m: cpb.ChatMessage) -> str:
    """`#2 doctor:doctor-1: Hello, tell me more`."""
    return f"#{m.sequence} {label(cpb.ChatRole, m.sender_role).lower()}:{m.sender_id}: {m.text}"


def contact_text(c: npb.Contact) -> str:
    channels = [
        [
            label(npb.Channel, entry.channel).lower(),
            entry.address,
            "enabled" if entry.enabled else "disabled",
        ]
        for entry in c.channels
    ]
    locale = label(npb.Locale, c.locale).lower()
    return "\n".join(
        [
            f"contact of {c.user_id}: notifications in {locale}, updated {when(c, 'updated_at')}",
            *_section("channels", ["CHANNEL", "ADDRESS", "STATE"], channels),
        ]
    )


def notification_text(n: npb.Notification) -> str:
    """`#3 RESERVATION_CONFIRMED 2026-… UTC unread`, then its title and body, indented."""
    read = f"read {when(n, 'read_at')}" if n.HasField("read_at") else "unread"
    kind = label(npb.NotificationKind, n.kind)
    head = f"#{n.sequence} {kind}  {when(n, 'created_at')}  {read}  ({n.subject_id})"
    return "\n".join([head, f"    {n.title}", *(f"    {line}" for line in n.body.splitlines())])


def notifications_text(notifications: Sequence[npb.Notification]) -> str:
    return "\n".join(map(notification_text, notifications)) or "no notifications"
