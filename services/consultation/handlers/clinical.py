"""Phase two: the paid clinical session, the consultation made of its symptoms, the
doctors who take it, and the chat between patient and doctor.

Every read and write of clinical data is audited in the same transaction. Consultations
are locked while they change, so a chat's sequence numbers stay gapless and two doctors
never take one consultation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from runtime.jobs import sweep
from services.consultation.domain.assignment import Candidate
from services.consultation.domain.audit import SubjectKind
from services.consultation.domain.caller import Caller
from services.consultation.domain.chat import ChatMessage, write_message
from services.consultation.domain.consultation import Consultation, open_consultation
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.errors import (
    ClinicalSessionNotFound,
    ConsultationNotFound,
    DoctorNotFound,
)
from services.consultation.domain.offers import PriceList
from services.consultation.domain.queue import assign_waiting
from services.consultation.domain.session import ClinicalSession
from services.consultation.domain.shifts import WeeklyShifts
from services.consultation.domain.triage import ReportedSymptom
from services.consultation.handlers.context import Context
from services.consultation.handlers.unit_of_work import ConsultationUnit, audited, derived_id


@dataclass(frozen=True)
class SubmitSymptoms:
    patient: Caller
    clinical_session_id: str
    details: str
    symptoms: tuple[ReportedSymptom, ...]


@dataclass(frozen=True)
class AcceptConsultation:
    consultation_id: str
    doctor: Caller


@dataclass(frozen=True)
class DeclineConsultation:
    consultation_id: str
    doctor: Caller
    reason: str


@dataclass(frozen=True)
class CompleteConsultation:
    consultation_id: str
    doctor: Caller
    notes: str


@dataclass(frozen=True)
class CancelConsultation:
    """The patient withdraws a paid consultation no doctor has accepted yet."""

    consultation_id: str
    patient: Caller


@dataclass(frozen=True)
class PostMessage:
    consultation_id: str
    author: Caller
    text: str


@dataclass(frozen=True)
class SetDoctorShifts:
    doctor_id: str
    shifts: WeeklyShifts


@dataclass(frozen=True)
class SetConsultationPrices:
    # None: the platform's defaults.
    doctor_id: str | None
    prices: PriceList


@dataclass(frozen=True)
class DoctorUpdated:
    """Booking's directory entry of a doctor changed (its shifts and prices are ours)."""

    doctor_id: str
    time_zone: str
    active: bool
    updated_at: datetime


@dataclass(frozen=True)
class ExpireSession:
    """The sweeper's: a session whose symptoms never came, found past its expiry."""

    clinical_session_id: str


@dataclass(frozen=True)
class RefundUntakenConsultation:
    """The sweeper's: a consultation no doctor took by its deadline."""

    consultation_id: str


async def load_session(
    uow: ConsultationUnit, session_id: str, *, lock: bool = False
) -> ClinicalSession:
    session = await uow.clinical_sessions.get(session_id, for_update=lock)
    if session is None:
        raise ClinicalSessionNotFound(session_id)
    return session


async def candidates(ctx: Context, uow: ConsultationUnit) -> list[Candidate]:
    """The active doctors on shift now, with their loads, in one query."""
    return await uow.doctors.on_shift_candidates(ctx.clock())


async def submit_symptoms(ctx: Context, uow: ConsultationUnit, cmd: SubmitSymptoms) -> Consultation:
    async with uow:
        session = await load_session(uow, cmd.clinical_session_id, lock=True)
        intake = await uow.intakes.get(session.intake_id)
        assert intake is not None
        chosen = await uow.doctors.get(session.doctor_id) if session.doctor_id else None
        now = ctx.clock()
        consultation = open_consultation(
            session,
            patient_id=cmd.patient.id,
            consultation_id=derived_id("consultation", session.id),
            details=cmd.details,
            symptoms=cmd.symptoms,
            intake=intake,
            triage=ctx.triage,
            chosen_doctor=chosen,
            candidates=await candidates(ctx, uow),
            now=now,
            accept_within=ctx.settings.accept_within,
        )
        await uow.clinical_sessions.save(session)
        await uow.consultations.save(consultation)
        await audited(
            uow, cmd.patient, "SubmitSymptoms", SubjectKind.CONSULTATION, consultation.id, now=now
        )
        uow.publish(session, consultation, correlation_id=session.checkout_id)
        await uow.commit()
        return consultation


async def load_consultation(
    uow: ConsultationUnit, consultation_id: str, caller: Caller, *, lock: bool = False
) -> Consultation:
    consultation = await uow.consultations.get(consultation_id, for_update=lock)
    if consultation is None:
        raise ConsultationNotFound(consultation_id)
    consultation.ensure_visible_to(caller)
    return consultation


async def load_doctor(uow: ConsultationUnit, doctor_id: str, *, lock: bool = False) -> Doctor:
    doctor = await uow.doctors.get(doctor_id, for_update=lock)
    if doctor is None:
        raise DoctorNotFound(doctor_id)
    return doctor


async def _changed_by(
    ctx: Context, uow: ConsultationUnit, consultation_id: str, caller: Caller, action: str, change
) -> Consultation:
    """One doctor's (or the patient's) action on a consultation: locked, changed, saved,
    audited, announced."""
    async with uow:
        consultation = await load_consultation(uow, consultation_id, caller, lock=True)
        now = ctx.clock()
        await change(consultation, now)
        await uow.consultations.save(consultation)
        await audited(uow, caller, action, SubjectKind.CONSULTATION, consultation.id, now=now)
        uow.publish(consultation, correlation_id=consultation.checkout_id)
        await uow.commit()
        return consultation


async def accept_consultation(
    ctx: Context, uow: ConsultationUnit, cmd: AcceptConsultation
) -> Consultation:
    async def accept(consultation: Consultation, now: datetime) -> None:
        consultation.accept(cmd.doctor.id, now)

    return await _changed_by(
        ctx, uow, cmd.consultation_id, cmd.doctor, "AcceptConsultation", accept
    )


async def decline_consultation(
    ctx: Context, uow: ConsultationUnit, cmd: DeclineConsultation
) -> Consultation:
    """Handed on to another doctor on shift, or refunded when there is none."""

    async def decline(consultation: Consultation, now: datetime) -> None:
        others = await candidates(ctx, uow)
        consultation.decline(cmd.doctor.id, cmd.reason, candidates=others, now=now)

    return await _changed_by(
        ctx, uow, cmd.consultation_id, cmd.doctor, "DeclineConsultation", decline
    )


async def complete_consultation(
    ctx: Context, uow: ConsultationUnit, cmd: CompleteConsultation
) -> Consultation:
    async def complete(consultation: Consultation, now: datetime) -> None:
        consultation.complete(cmd.doctor.id, cmd.notes, now)

    return await _changed_by(
        ctx, uow, cmd.consultation_id, cmd.doctor, "CompleteConsultation", complete
    )


async def cancel_consultation(
    ctx: Context, uow: ConsultationUnit, cmd: CancelConsultation
) -> Consultation:
    async def cancel(consultation: Consultation, now: datetime) -> None:
        consultation.cancel(cmd.patient, now)

    return await _changed_by(
        ctx, uow, cmd.consultation_id, cmd.patient, "CancelConsultation", cancel
    )


async def post_message(ctx: Context, uow: ConsultationUnit, cmd: PostMessage) -> ChatMessage:
    async with uow:
        consultation = await load_consultation(uow, cmd.consultation_id, cmd.author, lock=True)
        now = ctx.clock()
        message = write_message(
            consultation, cmd.author, message_id=str(uuid.uuid4()), text=cmd.text, now=now
        )
        await uow.messages.add(message)
        await uow.consultations.save(consultation)
        # A chat post is clinical data written: who wrote in which consultation, from where.
        await audited(
            uow, cmd.author, "PostMessage", SubjectKind.CONSULTATION, consultation.id, now=now
        )
        await uow.commit()
        return message


async def set_doctor_shifts(ctx: Context, uow: ConsultationUnit, cmd: SetDoctorShifts) -> Doctor:
    async with uow:
        doctor = await load_doctor(uow, cmd.doctor_id, lock=True)
        doctor.shifts = cmd.shifts
        await uow.doctors.save(doctor)
        await uow.commit()
        return doctor


async def set_consultation_prices(
    ctx: Context, uow: ConsultationUnit, cmd: SetConsultationPrices
) -> PriceList:
    """A doctor's own prices, or the platform defaults when no doctor is named."""
    async with uow:
        if cmd.doctor_id is None:
            await uow.prices.save(cmd.prices, ctx.clock())
        else:
            doctor = await load_doctor(uow, cmd.doctor_id, lock=True)
            doctor.prices = cmd.prices
            await uow.doctors.save(doctor)
        await uow.commit()
        return cmd.prices


async def doctor_updated(ctx: Context, uow: ConsultationUnit, news: DoctorUpdated) -> None:
    """Keep the newest copy of booking's directory entry."""
    async with uow:
        doctor = await uow.doctors.get(news.doctor_id, for_update=True)
        if doctor is None:
            doctor = Doctor(news.doctor_id, news.time_zone, news.active, news.updated_at)
        elif not doctor.directory_updated(
            time_zone=news.time_zone, active=news.active, updated_at=news.updated_at
        ):
            return
        await uow.doctors.save(doctor)
        await uow.commit()


async def expire_session(ctx: Context, uow: ConsultationUnit, cmd: ExpireSession) -> None:
    """A session whose symptoms never came is refunded, once."""
    async with uow:
        session = await load_session(uow, cmd.clinical_session_id, lock=True)
        if session.expire(ctx.clock()):
            await uow.clinical_sessions.save(session)
            uow.publish(session, correlation_id=session.checkout_id)
        await uow.commit()


async def refund_untaken_consultation(
    ctx: Context, uow: ConsultationUnit, cmd: RefundUntakenConsultation
) -> None:
    async with uow:
        consultation = await uow.consultations.get(cmd.consultation_id, for_update=True)
        if consultation is not None and consultation.refund_if_untaken(ctx.clock()):
            await uow.consultations.save(consultation)
            uow.publish(consultation, correlation_id=consultation.checkout_id)
        await uow.commit()


async def _assign_queue(ctx: Context, uow: ConsultationUnit) -> int:
    """Queued consultations go to doctors whose shift has started, most pressing first."""
    async with uow:
        waiting = await uow.consultations.waiting(ctx.settings.batch, for_update=True)
        if not waiting:
            return 0
        assigned = assign_waiting(waiting, await candidates(ctx, uow), ctx.clock())
        for consultation in assigned:
            await uow.consultations.save(consultation)
            uow.publish(consultation, correlation_id=consultation.checkout_id)
        await uow.commit()
        return len(assigned)


async def tend_sessions_and_queue(ctx: Context) -> None:
    """The job, in this order: sessions past their expiry are refunded, consultations
    nobody took by their deadline are refunded, and only then is the queue assigned, so
    nothing refundable is handed to a doctor."""
    now, batch = ctx.clock(), ctx.settings.batch

    def expired(uow: ConsultationUnit):
        return uow.clinical_sessions.awaiting_past_expiry(now, batch)

    def untaken(uow: ConsultationUnit):
        return uow.consultations.untaken_past_deadline(now, batch)

    await sweep(ctx, expired, expire_session, ExpireSession, "expire clinical session")
    await sweep(
        ctx,
        untaken,
        refund_untaken_consultation,
        RefundUntakenConsultation,
        "refund untaken consultation",
    )
    await _assign_queue(ctx, ctx.unit_of_work())
