"""Consultation's tables. The rules the schema can hold live here too, as the last word
when code is wrong: one clinical session per confirmed payment and per checkout, one
consultation per clinical session, chat sequence numbers that never repeat, positive
prices in a currency code, and no row in a state the domain cannot reach (a failure or
a refund half written, a consultation accepted by nobody, a status nobody knows).

Values the domain keeps whole and only this service reads (triage, symptoms, shifts,
prices, declines) are JSONB documents, each one the domain value written out field by
field; what the jobs and lists select on is a column of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    event,
    literal_column,
)
from sqlalchemy.dialects.postgresql import JSONB

from purchasing.checkout import OPEN
from purchasing.tables import OpenByPatient, expired_checkouts, payment_progress
from runtime.columns import all_or_none, instant, one_of
from runtime.purge import Purge
from runtime.streams import notify_trigger
from services.consultation.domain.audit import SubjectKind
from services.consultation.domain.caller import Role
from services.consultation.domain.chat import ChatRole
from services.consultation.domain.consultation import ONGOING, UNTAKEN, ConsultationStatus
from services.consultation.domain.events import RefundReason
from services.consultation.domain.offers import ConsultationType
from services.consultation.domain.session import ClinicalSessionStatus
from services.consultation.domain.triage import MAX_AGE_YEARS, Sex, Urgency

# Committed chat messages NOTIFY their consultation's id here, so live streams wake at
# once instead of at their next poll; like the outbox's, it fires only for rows that
# made it.
CHAT_CHANNEL = "nobat_consultation_chat"

metadata = MetaData()


def _price() -> tuple[Column, ...]:
    """What was quoted or paid: consultation sells nothing for free."""
    return (
        Column("price_minor", BigInteger, CheckConstraint("price_minor > 0"), nullable=False),
        Column("currency", Text, CheckConstraint("currency ~ '^[A-Z]{3}$'"), nullable=False),
    )


def _consultation_type() -> Column:
    return Column(
        "consultation_type",
        Text,
        one_of("consultation_type", ConsultationType),
        nullable=False,
    )


def _json(name: str, shape: str, *checks: CheckConstraint) -> Column:
    """A JSONB document of `shape` ('array' or 'object')."""
    return Column(
        name, JSONB, CheckConstraint(f"jsonb_typeof({name}) = '{shape}'"), *checks, nullable=False
    )


def _prices_sound(name: str, column: str, items: str, kind: str, price: str) -> CheckConstraint:
    """Every price in the JSON `column` (the `items` path; each item's type at `kind`, its
    money at `price`) is of a known type, positive, and in a currency code."""
    known = " || ".join(f'{kind} == "{member.value}"' for member in ConsultationType)
    return CheckConstraint(
        f"NOT jsonb_path_exists({column}, '{items} ? (!({known}) || {price}.amount_minor <= 0"
        f' || !({price}.currency like_regex "^[A-Z]{{3}}$"))\')',
        name=name,
    )


def _rows_in(name: str, table: Table, statuses: Iterable[Enum], *columns) -> ColumnElement[bool]:
    """The predicate "status is one of `statuses`", and the partial index `name` on
    `columns` of only those rows, so what reads them costs nothing more as history grows.

    The values are written into the SQL rather than bound, so a query filtering on the
    predicate returned matches the index built on it."""
    values = sorted(status.value for status in statuses)
    predicate = table.c.status.in_([literal_column(f"'{value}'") for value in values])
    Index(name, *columns, postgresql_where=predicate)
    return predicate


doctors = Table(
    "doctors",
    metadata,
    Column("id", Text, primary_key=True),
    # Booking's directory owns these three; DoctorUpdated keeps the copy current.
    Column("time_zone", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    instant("updated_at", nullable=False),
    # [{day, start_minute, end_minute}]: ISO day (1 is Monday) and minutes from local
    # midnight, so an end of 1440 is the domain's END_OF_DAY (an end time of 00:00).
    _json(
        "shifts",
        "array",
        CheckConstraint(
            "NOT jsonb_path_exists(shifts, '$[*] ? (@.day < 1 || @.day > 7"
            " || @.start_minute < 0 || @.end_minute > 1440 || @.end_minute <= @.start_minute)')",
            name="doctors_shifts_in_a_day",
        ),
    ),
    # {type: {amount_minor, currency}}: keyed by type, so no type is priced twice.
    _json(
        "prices",
        "object",
        _prices_sound("doctors_prices_sound", "prices", "$.keyvalue()", "@.key", "@.value"),
    ),
)

# The platform defaults: a type without a row is not sold.
platform_prices = Table(
    "platform_prices",
    metadata,
    Column(
        "consultation_type",
        Text,
        one_of("consultation_type", ConsultationType),
        primary_key=True,
    ),
    Column("amount_minor", BigInteger, CheckConstraint("amount_minor > 0"), nullable=False),
    Column("currency", Text, CheckConstraint("currency ~ '^[A-Z]{3}$'"), nullable=False),
    instant("updated_at", nullable=False),
)

intakes = Table(
    "intakes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("patient_id", Text, nullable=False),
    Column("complaint", Text, nullable=False),
    # [{code, severity, days_since_onset}] in the order reported; null where not said.
    _json("symptoms", "array"),
    Column(
        "age_years",
        Integer,
        CheckConstraint(f"age_years BETWEEN 0 AND {MAX_AGE_YEARS}"),
        nullable=False,
    ),
    Column("sex", Text, one_of("sex", Sex)),
    # The whole Triage: {likely_conditions, urgency, red_flags, allowed_types, rules_version}.
    _json("triage", "object"),
    # [{type, amount_minor, currency}] in the order offered.
    _json(
        "offers", "array", _prices_sound("intakes_offers_sound", "offers", "$[*]", "@.type", "@")
    ),
    instant("created_at", nullable=False),
    instant("expires_at", nullable=False),
    Index("intakes_by_patient", "patient_id", "created_at"),
)

checkouts = Table(
    "checkouts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("intake_id", Text, ForeignKey("intakes.id"), nullable=False),
    Column("patient_id", Text, nullable=False),
    _consultation_type(),
    # The doctor the patient chose; none lets assignment pick one.
    Column("doctor_id", Text),
    *_price(),
    *payment_progress(),
    Column("clinical_session_id", Text),
    Column("refund_reason", Text, one_of("refund_reason", RefundReason)),
    instant("expires_at", nullable=False),
    CheckConstraint("expires_at > created_at"),
    # A payment confirmed is answered with exactly one of a clinical session or a refund.
    CheckConstraint(
        "(status = 'confirmed') = (clinical_session_id IS NOT NULL)", name="checkouts_confirmed"
    ),
    CheckConstraint(
        "(status = 'refunded') = (refund_reason IS NOT NULL)", name="checkouts_refunded"
    ),
    CheckConstraint(
        "status NOT IN ('confirmed', 'refunded') OR payment_id IS NOT NULL",
        name="checkouts_settled_by_a_payment",
    ),
    # Payment's events name the payment; a late or duplicate one is matched by it.
    Index("checkouts_by_payment", "payment_id"),
    # A patient's own checkouts, newest first (ListCheckouts).
    Index("checkouts_by_patient", "patient_id", "created_at"),
)
# What the expiry sweeper reads.
OPEN_CHECKOUT = _rows_in("checkouts_open_by_expiry", checkouts, OPEN, checkouts.c.expires_at)
# What a patient's open checkouts are counted on, against consultation's cap.
OPEN_BY_PATIENT = OpenByPatient(checkouts, checkouts.c.expires_at)
# A clinical session names only a confirmed checkout, which is never purged.
EXPIRED_CHECKOUTS, EXPIRED_CHECKOUTS_INDEX = expired_checkouts(checkouts)

clinical_sessions = Table(
    "clinical_sessions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("checkout_id", Text, ForeignKey("checkouts.id"), nullable=False, unique=True),
    # One record per confirmed payment: a redelivered PaymentConfirmed that slipped past
    # the checkout's state would otherwise sell a second session for the same money.
    Column("payment_id", Text, nullable=False, unique=True),
    Column("patient_id", Text, nullable=False),
    Column("intake_id", Text, ForeignKey("intakes.id"), nullable=False),
    _consultation_type(),
    Column("doctor_id", Text),
    *_price(),
    Column("status", Text, one_of("status", ClinicalSessionStatus), nullable=False),
    Column("consultation_id", Text),
    instant("opened_at", nullable=False),
    instant("expires_at", nullable=False),
    CheckConstraint("expires_at > opened_at"),
    CheckConstraint(
        "(status = 'symptoms_submitted') = (consultation_id IS NOT NULL)",
        name="clinical_sessions_submitted",
    ),
    # A patient's own sessions, newest first (ListClinicalSessions).
    Index("clinical_sessions_by_patient", "patient_id", "opened_at", "id"),
)
# An intake nobody bought, `Retention.expired` past its own expiry: no checkout (and so
# no clinical session) names it. The indexes let the purge find it and let PostgreSQL
# check, as it deletes it, that nothing names it, without reading either table whole.
UNBOUGHT_INTAKES = Purge(
    "intakes",
    "t.expires_at < :cutoff"
    " AND NOT EXISTS (SELECT 1 FROM checkouts c WHERE c.intake_id = t.id)"
    " AND NOT EXISTS (SELECT 1 FROM clinical_sessions s WHERE s.intake_id = t.id)",
    "expired",
)
INTAKE_INDEXES = (
    Index("intakes_by_expiry", intakes.c.expires_at),
    Index("checkouts_by_intake", checkouts.c.intake_id),
    Index("clinical_sessions_by_intake", clinical_sessions.c.intake_id),
)
# What the expiry job refunds.
AWAITING_SYMPTOMS = _rows_in(
    "clinical_sessions_awaiting_by_expiry",
    clinical_sessions,
    [ClinicalSessionStatus.AWAITING_SYMPTOMS],
    clinical_sessions.c.expires_at,
)

consultations = Table(
    "consultations",
    metadata,
    Column("id", Text, primary_key=True),
    # One consultation per clinical session: a second submission is refused here too.
    Column(
        "clinical_session_id",
        Text,
        ForeignKey("clinical_sessions.id"),
        nullable=False,
        unique=True,
    ),
    Column("checkout_id", Text, nullable=False),
    Column("payment_id", Text, nullable=False),
    Column("patient_id", Text, nullable=False),
    _consultation_type(),
    *_price(),
    Column("details", Text, nullable=False),
    # Like intakes': every symptom reported at intake or since.
    _json("symptoms", "array"),
    _json("triage", "object"),
    # The triage's urgency again, for the queue's order.
    Column(
        "urgency",
        SmallInteger,
        CheckConstraint(f"urgency BETWEEN {min(Urgency).value} AND {max(Urgency).value}"),
        nullable=False,
    ),
    Column("status", Text, one_of("status", ConsultationStatus), nullable=False),
    Column("doctor_id", Text),
    instant("created_at", nullable=False),
    instant("accept_by", nullable=False),
    instant("assigned_at"),
    instant("accepted_at"),
    instant("completed_at"),
    Column("notes", Text, nullable=False),
    # [{doctor_id, reason, declined_at}] in the order they declined.
    _json("declines", "array"),
    Column("refund_reason", Text, one_of("refund_reason", RefundReason)),
    Column(
        "last_message_sequence",
        BigInteger,
        CheckConstraint("last_message_sequence >= 0"),
        nullable=False,
    ),
    Column("payee_changes", Integer, CheckConstraint("payee_changes >= 0"), nullable=False),
    CheckConstraint("urgency = (triage ->> 'urgency')::smallint", name="consultations_urgency"),
    all_or_none("doctor_id", "assigned_at"),
    # Queued means nobody has it yet; from review on, somebody does.
    CheckConstraint(
        "CASE status WHEN 'waiting_for_doctor' THEN doctor_id IS NULL"
        " WHEN 'refunded' THEN true ELSE doctor_id IS NOT NULL END",
        name="consultations_assigned",
    ),
    # Only an accepted consultation is completed, and a refund comes only before that.
    CheckConstraint(
        "(status IN ('in_progress', 'completed')) = (accepted_at IS NOT NULL)",
        name="consultations_accepted",
    ),
    CheckConstraint(
        "(status = 'completed') = (completed_at IS NOT NULL)", name="consultations_completed"
    ),
    CheckConstraint(
        "(status = 'refunded') = (refund_reason IS NOT NULL)", name="consultations_refunded"
    ),
    # Lists run newest first, a patient's own or a doctor's assigned.
    Index("consultations_by_patient", "patient_id", "created_at", "id"),
    Index("consultations_by_doctor", "doctor_id", "created_at", "id"),
    # A doctor's last assignment, the tie-break between equally loaded doctors.
    Index("consultations_by_doctor_assignment", "doctor_id", "assigned_at"),
)
# domain.queue's queue_order: emergencies first, then the most urgent, then the earliest.
QUEUE_ORDER = (
    consultations.c.consultation_type != literal_column(f"'{ConsultationType.EMERGENCY.value}'"),
    consultations.c.urgency.desc(),
    consultations.c.created_at,
    consultations.c.id,
)
# The assignment job reads the queue's head straight off its index.
QUEUED = _rows_in(
    "consultations_queue", consultations, [ConsultationStatus.WAITING_FOR_DOCTOR], *QUEUE_ORDER
)
# What the deadline job refunds.
UNTAKEN_CONSULTATION = _rows_in(
    "consultations_untaken_by_deadline", consultations, UNTAKEN, consultations.c.accept_by
)
# What counts towards a doctor's load.
ONGOING_CONSULTATION = _rows_in(
    "consultations_ongoing_by_doctor", consultations, ONGOING, consultations.c.doctor_id
)

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("id", Text, primary_key=True),
    Column("consultation_id", Text, ForeignKey("consultations.id"), nullable=False),
    Column("sequence", BigInteger, CheckConstraint("sequence > 0"), nullable=False),
    Column("sender_id", Text, nullable=False),
    Column("sender_role", Text, one_of("sender_role", ChatRole), nullable=False),
    Column("text", Text, nullable=False),
    instant("sent_at", nullable=False),
    # Two posts never share a number, whatever the handlers race; also the index a
    # stream resumes by.
    UniqueConstraint("consultation_id", "sequence", name="chat_messages_one_per_sequence"),
)

# A chat's live streams hear of news on CHAT_CHANNEL, keyed by the consultation's id: a
# message posted, and the consultation's status changing (a chat that closed ends its
# streams). The NOTIFY is sent in the writer's transaction, so only when it commits.
for statement in (
    notify_trigger("consultation_chat_notify", CHAT_CHANNEL, "consultation_id"),
    "CREATE TRIGGER consultation_chat_notify AFTER INSERT ON chat_messages"
    " FOR EACH ROW EXECUTE FUNCTION consultation_chat_notify()",
):
    event.listen(chat_messages, "after_create", DDL(statement))
event.listen(chat_messages, "after_drop", DDL("DROP FUNCTION IF EXISTS consultation_chat_notify()"))

# Statements consultation_0002 runs too, on databases made before them: they replace
# what is there.
STATUS_NOTIFY = (
    notify_trigger("consultation_status_notify", CHAT_CHANNEL, "id"),
    "CREATE OR REPLACE TRIGGER consultation_status_notify AFTER UPDATE OF status ON consultations"
    " FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)"
    " EXECUTE FUNCTION consultation_status_notify()",
)
for statement in STATUS_NOTIFY:
    event.listen(consultations, "after_create", DDL(statement))
event.listen(
    consultations, "after_drop", DDL("DROP FUNCTION IF EXISTS consultation_status_notify()")
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("actor_id", Text, nullable=False),
    Column("actor_role", Text, one_of("actor_role", Role), nullable=False),
    Column("action", Text, CheckConstraint("action <> ''"), nullable=False),
    Column("subject_kind", Text, one_of("subject_kind", SubjectKind), nullable=False),
    Column("subject_id", Text, CheckConstraint("subject_id <> ''"), nullable=False),
    Column("client_address", Text, nullable=False),
    Column("user_agent", Text, nullable=False),
    instant("occurred_at", nullable=False),
    # Newest first: who looked at one record, what one actor looked at, or everything.
    Index("audit_entries_by_subject", "subject_id", "occurred_at", "id"),
    Index("audit_entries_by_actor", "actor_id", "occurred_at", "id"),
    Index("audit_entries_by_time", "occurred_at", "id"),
)
