"""Phase two: the paid clinical session, the consultation made of its symptoms, the
doctors who take it, and the chat between patient and doctor.

Every read and write of clinical data is audited in the same transaction. Consultations
are locked while they change, so a chat's sequence numbers stay gapless and two doctors
never take one consultation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from services.consultation.domain.assignment import Candidate
from services.consultation.domain.audit import SubjectKind
from services.consultation.domain.caller import Caller
from services.consultation.domain.chat import ChatMessage, chat_role, post_message
from services.consultation.domain.consultation import Consultation, submit_symptoms
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


async def _session(
    uow: ConsultationUnit, session_id: str, *, lock: bool = False
) -> ClinicalSession:
    session = await uow.clinical_sessions.get(session_id, for_update=lock)
    if session is None:
        raise ClinicalSessionNotFound(session_id)
    return session


async def get_session(
    ctx: Context, uow: ConsultationUnit, session_id: str, caller: Caller
) -> ClinicalSession:
    async with uow:
        session = await _session(uow, session_id)
        session.ensure_visible_to(caller)
        await audited(
            uow,
            caller,
            "GetClinicalSession",
            SubjectKind.CLINICAL_SESSION,
            session.id,
            now=ctx.clock(),
        )
        await uow.commit()
        return session


async def candidates(ctx: Context, uow: ConsultationUnit) -> list[Candidate]:
    """The active doctors on shift now, with their loads, in one query."""
    return await uow.doctors.on_shift_candidates(ctx.clock())


async def submit(ctx: Context, uow: ConsultationUnit, cmd: SubmitSymptoms) -> Consultation:
    async with uow:
        session = await _session(uow, cmd.clinical_session_id, lock=True)
        intake = await uow.intakes.get(session.intake_id)
        assert intake is not None
        chosen = await uow.doctors.get(session.doctor_id) if session.doctor_id else None
        now = ctx.clock()
        consultation = submit_symptoms(
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


async def _consultation(
    uow: ConsultationUnit, consultation_id: str, caller: Caller, *, lock: bool = False
) -> Consultation:
    consultation = await uow.consultations.get(consultation_id, for_update=lock)
    if consultation is None:
        raise ConsultationNotFound(consultation_id)
    consultation.ensure_visible_to(caller)
    return consultation


async def get_consultation(
    ctx: Context, uow: ConsultationUnit, consultation_id: str, caller: Caller
) -> Consultation:
    async with uow:
        consultation = await _consultation(uow, consultation_id, caller)
        await audited(
            uow,
            caller,
            "GetConsultation",
            SubjectKind.CONSULTATION,
            consultation.id,
            now=ctx.clock(),
        )
        await uow.commit()
        return consultation


async def list_consultations(
    ctx: Context, uow: ConsultationUnit, caller: Caller, **page: object
) -> list[Consultation]:
    """A patient's or a doctor's own consultations; each one shown is audited."""
    async with uow:
        found = await uow.consultations.page(**page)
        shown = (consultation.id for consultation in found)
        await audited(
            uow, caller, "ListConsultations", SubjectKind.CONSULTATION, *shown, now=ctx.clock()
        )
        await uow.commit()
        return found


async def act(
    ctx: Context, uow: ConsultationUnit, consultation_id: str, caller: Caller, action: str, **kw
) -> Consultation:
    """A doctor accepts, declines (handed on, or refunded) or completes a consultation."""
    async with uow:
        consultation = await _consultation(uow, consultation_id, caller, lock=True)
        now = ctx.clock()
        if action == "AcceptConsultation":
            consultation.accept(caller.id, now)
        elif action == "DeclineConsultation":
            consultation.decline(
                caller.id, str(kw["reason"]), candidates=await candidates(ctx, uow), now=now
            )
        else:
            consultation.complete(caller.id, str(kw["notes"]), now)
        await uow.consultations.save(consultation)
        await audited(uow, caller, action, SubjectKind.CONSULTATION, consultation.id, now=now)
        uow.publish(consultation, correlation_id=consultation.checkout_id)
        await uow.commit()
        return consultation


async def post(
    ctx: Context, uow: ConsultationUnit, consultation_id: str, caller: Caller, text: str
) -> ChatMessage:
    async with uow:
        consultation = await _consultation(uow, consultation_id, caller, lock=True)
        message = post_message(
            consultation, caller, message_id=str(uuid.uuid4()), text=text, now=ctx.clock()
        )
        await uow.messages.add(message)
        await uow.consultations.save(consultation)
        await uow.commit()
        return message


async def messages_after(
    ctx: Context,
    uow: ConsultationUnit,
    consultation_id: str,
    caller: Caller,
    after_sequence: int,
    *,
    audit: bool,
) -> list[ChatMessage]:
    """The chat after what the caller has seen, for the patient and their doctor only."""
    async with uow:
        consultation = await _consultation(uow, consultation_id, caller)
        chat_role(consultation, caller)
        found = await uow.messages.after(consultation.id, after_sequence, 500)
        if audit:
            await audited(
                uow,
                caller,
                "StreamMessages",
                SubjectKind.CONSULTATION,
                consultation.id,
                now=ctx.clock(),
            )
        await uow.commit()
        return found


async def set_shifts(
    ctx: Context, uow: ConsultationUnit, doctor_id: str, shifts: WeeklyShifts
) -> Doctor:
    async with uow:
        doctor = await _doctor(uow, doctor_id, lock=True)
        doctor.shifts = shifts
        await uow.doctors.save(doctor)
        await uow.commit()
        return doctor


async def _doctor(uow: ConsultationUnit, doctor_id: str, *, lock: bool = False) -> Doctor:
    doctor = await uow.doctors.get(doctor_id, for_update=lock)
    if doctor is None:
        raise DoctorNotFound(doctor_id)
    return doctor


async def get_doctor(ctx: Context, uow: ConsultationUnit, doctor_id: str) -> Doctor:
    async with uow:
        return await _doctor(uow, doctor_id)


async def set_prices(
    ctx: Context, uow: ConsultationUnit, doctor_id: str | None, prices: PriceList
) -> PriceList:
    """A doctor's own prices, or the platform defaults when no doctor is named."""
    async with uow:
        if doctor_id is None:
            await uow.prices.save(prices, ctx.clock())
        else:
            doctor = await _doctor(uow, doctor_id, lock=True)
            doctor.prices = prices
            await uow.doctors.save(doctor)
        await uow.commit()
        return prices


async def doctor_updated(
    ctx: Context, uow: ConsultationUnit, doctor_id: str, time_zone: str, active: bool, updated_at
) -> None:
    """Booking's directory changed: keep the newest copy (shifts and prices are ours)."""
    async with uow:
        doctor = await uow.doctors.get(doctor_id, for_update=True)
        if doctor is None:
            doctor = Doctor(doctor_id, time_zone, active, updated_at)
        elif not doctor.directory_updated(
            time_zone=time_zone, active=active, updated_at=updated_at
        ):
            return
        await uow.doctors.save(doctor)
        await uow.commit()


async def expire_session(ctx: Context, uow: ConsultationUnit, session_id: str) -> None:
    """A session whose symptoms never came is refunded, once."""
    async with uow:
        session = await _session(uow, session_id, lock=True)
        if session.expire(ctx.clock()):
            await uow.clinical_sessions.save(session)
            uow.publish(session, correlation_id=session.checkout_id)
        await uow.commit()


async def refund_untaken(ctx: Context, uow: ConsultationUnit, consultation_id: str) -> None:
    async with uow:
        consultation = await uow.consultations.get(consultation_id, for_update=True)
        if consultation is not None and consultation.refund_if_untaken(ctx.clock()):
            await uow.consultations.save(consultation)
            uow.publish(consultation, correlation_id=consultation.checkout_id)
        await uow.commit()


async def assign_queue(ctx: Context, uow: ConsultationUnit) -> int:
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


async def due(ctx: Context, uow: ConsultationUnit) -> tuple[Sequence[str], Sequence[str]]:
    """Sessions past their expiry, and consultations nobody took by their deadline."""
    async with uow:
        now = ctx.clock()
        return (
            await uow.clinical_sessions.awaiting_past_expiry(now, ctx.settings.batch),
            await uow.consultations.untaken_past_deadline(now, ctx.settings.batch),
        )
