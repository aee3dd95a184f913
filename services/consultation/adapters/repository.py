"""Consultation's aggregates in and out of PostgreSQL, converted at this edge.

Each aggregate is one row, saved whole by upsert, so saving twice writes the same row.
Loading `for_update` takes the row's lock, which serialises everything that changes it
(the consultation's lock also keeps its chat's sequence gapless). Loading never fills
`events`: they are the facts of one unit of work, written to the outbox in its commit,
not state. Chat messages and audit entries are facts themselves: added once, never
changed.

Lists page by a cursor: the id of the last one seen for doctors, and for the newest-first
lists the (instant, id) of the last one seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time

from sqlalchemy import (
    Column,
    Select,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from purchasing.quota import OpenCheckouts
from purchasing.tables import (
    CheckoutPages,
    newest_first,
    payment_progress_of,
    payment_progress_row,
)
from runtime.money import Money
from runtime.rows import Rows
from runtime.sql import Session
from services.consultation.adapters.tables import (
    AWAITING_SYMPTOMS,
    ONGOING_CONSULTATION,
    OPEN_BY_PATIENT,
    OPEN_CHECKOUT,
    QUEUE_ORDER,
    QUEUED,
    UNTAKEN_CONSULTATION,
    audit_entries,
    chat_messages,
    checkouts,
    clinical_sessions,
    consultations,
    doctors,
    intakes,
    platform_prices,
)
from services.consultation.domain.assignment import Candidate
from services.consultation.domain.audit import AuditEntry, SubjectKind
from services.consultation.domain.caller import Role
from services.consultation.domain.chat import ChatMessage, ChatRole
from services.consultation.domain.checkout import Checkout
from services.consultation.domain.consultation import (
    Consultation,
    ConsultationStatus,
    Decline,
)
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.events import RefundReason
from services.consultation.domain.intake import Intake
from services.consultation.domain.offers import ConsultationType, Offer, PriceList
from services.consultation.domain.session import ClinicalSession, ClinicalSessionStatus
from services.consultation.domain.shifts import Shift, WeeklyShifts
from services.consultation.domain.triage import (
    LikelyCondition,
    RedFlag,
    ReportedSymptom,
    Severity,
    Sex,
    Triage,
    Urgency,
)

_MINUTES_A_DAY = 24 * 60


def _where_given(query: Select, *filters: tuple[Column, object]) -> Select:
    """`query` narrowed to the rows whose column equals each value given; None is any."""
    return query.where(*(column == value for column, value in filters if value is not None))


def _price_row(price: Money) -> dict:
    return {"price_minor": price.amount_minor, "currency": price.currency}


def _price(row) -> Money:
    return Money(row["price_minor"], row["currency"])


def _money_json(money: Money) -> dict:
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _money_of(document) -> Money:
    return Money(document["amount_minor"], document["currency"])


def _symptoms_json(symptoms: Iterable[ReportedSymptom]) -> list[dict]:
    return [
        {
            "code": symptom.code,
            "severity": symptom.severity.value if symptom.severity is not None else None,
            "days_since_onset": symptom.days_since_onset,
        }
        for symptom in symptoms
    ]


def _symptoms(documents: Iterable[dict]) -> tuple[ReportedSymptom, ...]:
    return tuple(
        ReportedSymptom(
            document["code"],
            Severity(document["severity"]) if document["severity"] is not None else None,
            document["days_since_onset"],
        )
        for document in documents
    )


def _triage_json(triage: Triage) -> dict:
    return {
        "likely_conditions": [
            {"code": condition.code, "name": condition.name, "score": condition.score}
            for condition in triage.likely_conditions
        ],
        "urgency": triage.urgency.value,
        "red_flags": [
            {"symptom_code": flag.symptom_code, "advice": flag.advice} for flag in triage.red_flags
        ],
        "allowed_types": [kind.value for kind in triage.allowed_types],
        "rules_version": triage.rules_version,
    }


def _triage(document: dict) -> Triage:
    return Triage(
        likely_conditions=tuple(
            LikelyCondition(condition["code"], condition["name"], condition["score"])
            for condition in document["likely_conditions"]
        ),
        urgency=Urgency(document["urgency"]),
        red_flags=tuple(
            RedFlag(flag["symptom_code"], flag["advice"]) for flag in document["red_flags"]
        ),
        allowed_types=tuple(ConsultationType(kind) for kind in document["allowed_types"]),
        rules_version=document["rules_version"],
    )


def _shift_json(shift: Shift) -> dict:
    # Whole minutes (the domain insists), with END_OF_DAY as 1440: every stored shift
    # ends after it starts.
    start_minute, end_minute = shift.minutes
    return {"day": shift.day, "start_minute": start_minute, "end_minute": end_minute}


def _shift(document: dict) -> Shift:
    def clock(minute: int) -> time:
        return time(*divmod(minute % _MINUTES_A_DAY, 60))

    return Shift(document["day"], clock(document["start_minute"]), clock(document["end_minute"]))


def _doctor_row(doctor: Doctor) -> dict:
    return {
        "id": doctor.id,
        "time_zone": doctor.time_zone,
        "active": doctor.active,
        "updated_at": doctor.updated_at,
        "shifts": [_shift_json(shift) for shift in doctor.shifts.shifts],
        "prices": {kind.value: _money_json(price) for kind, price in doctor.prices.prices.items()},
    }


def _doctor(row) -> Doctor:
    return Doctor(
        id=row["id"],
        time_zone=row["time_zone"],
        active=row["active"],
        updated_at=row["updated_at"],
        shifts=WeeklyShifts(tuple(_shift(document) for document in row["shifts"])),
        prices=PriceList(
            {ConsultationType(kind): _money_of(price) for kind, price in row["prices"].items()}
        ),
    )


def _open_consultations(doctor_id: Column):
    """How many consultations `doctor_id` holds that are still going: their load."""
    return (
        select(func.count())
        .where(consultations.c.doctor_id == doctor_id, ONGOING_CONSULTATION)
        .scalar_subquery()
    )


def _last_assigned_at(doctor_id: Column):
    """When `doctor_id` was last given a consultation that is still theirs (one they
    declined has passed on), or None: the tie-break between equal loads."""
    return (
        select(func.max(consultations.c.assigned_at))
        .where(consultations.c.doctor_id == doctor_id)
        .scalar_subquery()
    )


class Doctors(Rows[Doctor]):
    """Consultation's copy of booking's directory, with the shifts and prices it owns."""

    table = doctors
    _load = staticmethod(_doctor)
    _dump = staticmethod(_doctor_row)

    async def page(self, *, include_inactive: bool, after: str | None, limit: int) -> list[Doctor]:
        """By id; `after` is the id of the last one seen."""
        query = select(doctors)
        if not include_inactive:
            query = query.where(doctors.c.active)
        if after is not None:
            query = query.where(doctors.c.id > after)
        return await self._all(query.order_by(doctors.c.id).limit(limit))

    async def active(self) -> list[Doctor]:
        """Every active doctor, by id: whose next shift start moves the queue."""
        return await self._all(select(doctors).where(doctors.c.active).order_by(doctors.c.id))

    async def on_shift_candidates(self, now: datetime) -> list[Candidate]:
        """The active doctors on shift at `now`, by id, each with their load and last
        assignment, for assignment.least_loaded.

        Shifts are read in each doctor's zone in Python, so every active doctor is read;
        loads come from the open consultations only, so the cost does not grow with
        history.
        """
        query = (
            select(
                doctors,
                _open_consultations(doctors.c.id).label("open_consultations"),
                _last_assigned_at(doctors.c.id).label("last_assigned_at"),
            )
            .where(doctors.c.active)
            .order_by(doctors.c.id)
        )
        candidates = []
        for row in (await self.session.execute(query)).mappings():
            doctor = _doctor(row)
            if doctor.on_shift(now):
                candidates.append(
                    Candidate(doctor, row["open_consultations"], row["last_assigned_at"])
                )
        return candidates


class PlatformPrices:
    """The platform's default price per consultation type, replaced as a whole."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def get_all(self) -> PriceList:
        rows = await self.session.execute(select(platform_prices))
        return PriceList(
            {ConsultationType(row["consultation_type"]): _money_of(row) for row in rows.mappings()}
        )

    async def save(self, prices: PriceList, at: datetime) -> None:
        """Make `prices` the defaults: a type it leaves out is no longer sold.

        Upserts then deletes the rest, rather than deleting everything first, so two
        admins racing end with one of their lists whole instead of a key violation.
        """
        priced = [kind.value for kind in prices.prices]
        for kind, price in prices.prices.items():
            row = {"consultation_type": kind.value, **_money_json(price), "updated_at": at}
            await self.session.execute(
                pg_insert(platform_prices)
                .values(**row)
                .on_conflict_do_update(
                    index_elements=[platform_prices.c.consultation_type], set_=row
                )
            )
        await self.session.execute(
            delete(platform_prices).where(platform_prices.c.consultation_type.not_in(priced))
        )


def _intake_row(intake: Intake) -> dict:
    return {
        "id": intake.id,
        "patient_id": intake.patient_id,
        "complaint": intake.complaint,
        "symptoms": _symptoms_json(intake.symptoms),
        "age_years": intake.age_years,
        "sex": intake.sex.value if intake.sex is not None else None,
        "triage": _triage_json(intake.triage),
        "offers": [
            {"type": offer.type.value, **_money_json(offer.price)} for offer in intake.offers
        ],
        "created_at": intake.created_at,
        "expires_at": intake.expires_at,
    }


def _intake(row) -> Intake:
    return Intake(
        id=row["id"],
        patient_id=row["patient_id"],
        complaint=row["complaint"],
        symptoms=_symptoms(row["symptoms"]),
        age_years=row["age_years"],
        sex=Sex(row["sex"]) if row["sex"] is not None else None,
        triage=_triage(row["triage"]),
        offers=tuple(
            Offer(ConsultationType(offer["type"]), _money_of(offer)) for offer in row["offers"]
        ),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


class Intakes(Rows[Intake]):
    table = intakes
    _load = staticmethod(_intake)
    _dump = staticmethod(_intake_row)


def _checkout_row(checkout: Checkout) -> dict:
    return {
        "id": checkout.id,
        "intake_id": checkout.intake_id,
        "patient_id": checkout.patient_id,
        "consultation_type": checkout.type.value,
        "doctor_id": checkout.doctor_id,
        **_price_row(checkout.price),
        **payment_progress_row(checkout),
        "clinical_session_id": checkout.clinical_session_id,
        "refund_reason": checkout.refund_reason.value if checkout.refund_reason else None,
        "expires_at": checkout.expires_at,
    }


def _checkout(row) -> Checkout:
    return Checkout(
        id=row["id"],
        intake_id=row["intake_id"],
        patient_id=row["patient_id"],
        type=ConsultationType(row["consultation_type"]),
        doctor_id=row["doctor_id"],
        price=_price(row),
        **payment_progress_of(row),
        expires_at=row["expires_at"],
        clinical_session_id=row["clinical_session_id"],
        refund_reason=RefundReason(row["refund_reason"]) if row["refund_reason"] else None,
    )


class Checkouts(CheckoutPages, Rows[Checkout]):
    table = checkouts
    _load = staticmethod(_checkout)
    _dump = staticmethod(_checkout_row)

    async def open_past_expiry(self, now: datetime, limit: int) -> list[str]:
        """Ids of open checkouts that ran out by `now`, the longest lapsed first."""
        return await self._due(OPEN_CHECKOUT, checkouts.c.expires_at, now, limit)

    async def open_of(self, patient_id: str, now: datetime) -> OpenCheckouts:
        """The patient's checkouts awaiting payment, under the patient's lock (see
        OpenByPatient.count)."""
        return await OPEN_BY_PATIENT.count(self.session, patient_id, now)


def _session_row(session: ClinicalSession) -> dict:
    return {
        "id": session.id,
        "checkout_id": session.checkout_id,
        "payment_id": session.payment_id,
        "patient_id": session.patient_id,
        "intake_id": session.intake_id,
        "consultation_type": session.type.value,
        "doctor_id": session.doctor_id,
        **_price_row(session.price),
        "status": session.status.value,
        "consultation_id": session.consultation_id,
        "opened_at": session.opened_at,
        "expires_at": session.expires_at,
    }


def _session(row) -> ClinicalSession:
    return ClinicalSession(
        id=row["id"],
        checkout_id=row["checkout_id"],
        payment_id=row["payment_id"],
        patient_id=row["patient_id"],
        intake_id=row["intake_id"],
        type=ConsultationType(row["consultation_type"]),
        doctor_id=row["doctor_id"],
        price=_price(row),
        opened_at=row["opened_at"],
        expires_at=row["expires_at"],
        status=ClinicalSessionStatus(row["status"]),
        consultation_id=row["consultation_id"],
    )


class ClinicalSessions(Rows[ClinicalSession]):
    table = clinical_sessions
    _load = staticmethod(_session)
    _dump = staticmethod(_session_row)

    async def by_checkout(
        self, checkout_id: str, *, for_update: bool = False
    ) -> ClinicalSession | None:
        """The session a checkout's confirmed payment opened, if any."""
        query = select(clinical_sessions).where(clinical_sessions.c.checkout_id == checkout_id)
        return await self._one(query, for_update)

    async def awaiting_past_expiry(self, now: datetime, limit: int) -> list[str]:
        """Ids of sessions still awaiting symptoms at their expiry by `now`, the longest
        lapsed first: the ones to refund."""
        return await self._due(AWAITING_SYMPTOMS, clinical_sessions.c.expires_at, now, limit)

    async def page(
        self,
        patient_id: str,
        status: ClinicalSessionStatus | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ClinicalSession]:
        """A patient's sessions, newest first, by (opened_at, id)."""
        query = _where_given(
            select(clinical_sessions),
            (clinical_sessions.c.patient_id, patient_id),
            (clinical_sessions.c.status, status.value if status else None),
        )
        query = newest_first(query, clinical_sessions.c.opened_at, clinical_sessions, after)
        return await self._all(query.limit(limit))


def _consultation_row(consultation: Consultation) -> dict:
    return {
        "id": consultation.id,
        "clinical_session_id": consultation.clinical_session_id,
        "checkout_id": consultation.checkout_id,
        "payment_id": consultation.payment_id,
        "patient_id": consultation.patient_id,
        "consultation_type": consultation.type.value,
        **_price_row(consultation.price),
        "details": consultation.details,
        "symptoms": _symptoms_json(consultation.symptoms),
        "triage": _triage_json(consultation.triage),
        "urgency": consultation.triage.urgency.value,
        "status": consultation.status.value,
        "doctor_id": consultation.doctor_id,
        "created_at": consultation.created_at,
        "accept_by": consultation.accept_by,
        "assigned_at": consultation.assigned_at,
        "accepted_at": consultation.accepted_at,
        "completed_at": consultation.completed_at,
        "notes": consultation.notes,
        "declines": [
            {
                "doctor_id": decline.doctor_id,
                "reason": decline.reason,
                "declined_at": decline.declined_at.isoformat(),
            }
            for decline in consultation.declines
        ],
        "refund_reason": (consultation.refund_reason.value if consultation.refund_reason else None),
        "last_message_sequence": consultation.last_message_sequence,
        "payee_changes": consultation.payee_changes,
    }


def _consultation(row) -> Consultation:
    return Consultation(
        id=row["id"],
        clinical_session_id=row["clinical_session_id"],
        checkout_id=row["checkout_id"],
        payment_id=row["payment_id"],
        patient_id=row["patient_id"],
        type=ConsultationType(row["consultation_type"]),
        price=_price(row),
        details=row["details"],
        symptoms=_symptoms(row["symptoms"]),
        triage=_triage(row["triage"]),
        created_at=row["created_at"],
        accept_by=row["accept_by"],
        status=ConsultationStatus(row["status"]),
        doctor_id=row["doctor_id"],
        assigned_at=row["assigned_at"],
        accepted_at=row["accepted_at"],
        completed_at=row["completed_at"],
        notes=row["notes"],
        declines=tuple(
            Decline(
                decline["doctor_id"],
                decline["reason"],
                datetime.fromisoformat(decline["declined_at"]),
            )
            for decline in row["declines"]
        ),
        refund_reason=RefundReason(row["refund_reason"]) if row["refund_reason"] else None,
        last_message_sequence=row["last_message_sequence"],
        payee_changes=row["payee_changes"],
    )


class Consultations(Rows[Consultation]):
    table = consultations
    _load = staticmethod(_consultation)
    _dump = staticmethod(_consultation_row)

    async def page(
        self,
        *,
        patient_id: str | None,
        doctor_id: str | None,
        status: ConsultationStatus | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Consultation]:
        """Newest first, by (created_at, id); `after` is the (created_at, id) of the
        last one seen. A patient's own, a doctor's assigned ones, or all (None)."""
        query = _where_given(
            select(consultations),
            (consultations.c.patient_id, patient_id),
            (consultations.c.doctor_id, doctor_id),
            (consultations.c.status, status.value if status else None),
        )
        query = newest_first(query, consultations.c.created_at, consultations, after)
        return await self._all(query.limit(limit))

    async def waiting(self, limit: int, *, for_update: bool = False) -> list[Consultation]:
        """The head of the queue, most pressing first (domain.queue's order).

        `for_update` locks them, skipping those another replica's job holds: that job
        assigns them, and this one assigns the rest.
        """
        query = select(consultations).where(QUEUED).order_by(*QUEUE_ORDER).limit(limit)
        if for_update:
            query = query.with_for_update(skip_locked=True)
        return await self._all(query)

    async def untaken_past_deadline(self, now: datetime, limit: int) -> list[str]:
        """Ids of consultations nobody accepted by their accept_by, at `now`, the longest
        overdue first: the ones to refund."""
        return await self._due(UNTAKEN_CONSULTATION, consultations.c.accept_by, now, limit)


def _message_row(message: ChatMessage) -> dict:
    return {
        "id": message.id,
        "consultation_id": message.consultation_id,
        "sequence": message.sequence,
        "sender_id": message.sender_id,
        "sender_role": message.sender_role.value,
        "text": message.text,
        "sent_at": message.sent_at,
    }


def _message(row) -> ChatMessage:
    return ChatMessage(
        id=row["id"],
        consultation_id=row["consultation_id"],
        sequence=row["sequence"],
        sender_id=row["sender_id"],
        sender_role=ChatRole(row["sender_role"]),
        text=row["text"],
        sent_at=row["sent_at"],
    )


class ChatMessages:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def add(self, message: ChatMessage) -> None:
        """Insert, never overwrite: a second message with its sequence is refused."""
        await self.session.execute(insert(chat_messages).values(**_message_row(message)))

    async def after(
        self, consultation_id: str, after_sequence: int, limit: int
    ) -> list[ChatMessage]:
        """The consultation's messages after `after_sequence` (0: from the first), in order."""
        rows = await self.session.execute(
            select(chat_messages)
            .where(
                chat_messages.c.consultation_id == consultation_id,
                chat_messages.c.sequence > after_sequence,
            )
            .order_by(chat_messages.c.sequence)
            .limit(limit)
        )
        return [_message(row) for row in rows.mappings()]

    async def last_sequence(self, consultation_id: str) -> int:
        """The consultation's last message's sequence; 0 before the first."""
        query = select(func.coalesce(func.max(chat_messages.c.sequence), 0)).where(
            chat_messages.c.consultation_id == consultation_id
        )
        return (await self.session.execute(query)).scalar_one()


def _entry_row(entry: AuditEntry) -> dict:
    return {
        "id": entry.id,
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role.value,
        "action": entry.action,
        "subject_kind": entry.subject_kind.value,
        "subject_id": entry.subject_id,
        "client_address": entry.client_address,
        "user_agent": entry.user_agent,
        "occurred_at": entry.occurred_at,
    }


def _entry(row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        actor_id=row["actor_id"],
        actor_role=Role(row["actor_role"]),
        action=row["action"],
        subject_kind=SubjectKind(row["subject_kind"]),
        subject_id=row["subject_id"],
        client_address=row["client_address"],
        user_agent=row["user_agent"],
        occurred_at=row["occurred_at"],
    )


class AuditEntries:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def add(self, entry: AuditEntry) -> None:
        await self.add_all([entry])

    async def add_all(self, entries: Sequence[AuditEntry]) -> None:
        """One statement for a read of many records (a page of consultations)."""
        if entries:
            await self.session.execute(insert(audit_entries), [_entry_row(e) for e in entries])

    async def page(
        self,
        *,
        subject_kind: SubjectKind | None = None,
        subject_id: str | None = None,
        actor_id: str | None = None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[AuditEntry]:
        """Newest first, by (occurred_at, id); `after` is the (occurred_at, id) of the
        last one seen. The filters combine with AND; None is any."""
        query = _where_given(
            select(audit_entries),
            (audit_entries.c.subject_kind, subject_kind.value if subject_kind else None),
            (audit_entries.c.subject_id, subject_id),
            (audit_entries.c.actor_id, actor_id),
        )
        query = newest_first(query, audit_entries.c.occurred_at, audit_entries, after)
        rows = await self.session.execute(query.limit(limit))
        return [_entry(row) for row in rows.mappings()]
