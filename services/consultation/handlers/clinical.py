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

from runtime.db import UnitOfWork
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
from services.consultation.handlers.stores import Stores, derived_id, publish


@dataclass(frozen=True)
class SubmitSymptoms:
    patient: Caller
    clinical_session_id: str
    details: str
    symptoms: tuple[ReportedSymptom, ...]


async def _session(stores: Stores, session_id: str, *, lock: bool = False) -> ClinicalSession:
    session = await stores.sessions.get(session_id, for_update=lock)
    if session is None:
        raise ClinicalSessionNotFound(session_id)
    return session


async def get_session(
    ctx: Context, uow: UnitOfWork, session_id: str, caller: Caller
) -> ClinicalSession:
    async with uow:
        stores = Stores(uow.session)
        session = await _session(stores, session_id)
        session.ensure_visible_to(caller)
        now = ctx.clock()
        await stores.audited(
            caller, "GetClinicalSession", SubjectKind.CLINICAL_SESSION, session.id, now
        )
        await uow.commit()
        return session


async def candidates(ctx: Context, stores: Stores) -> list[Candidate]:
    """The active doctors on shift now, with their loads, in one query."""
    return await stores.doctors.on_shift_candidates(ctx.clock())


async def submit(ctx: Context, uow: UnitOfWork, cmd: SubmitSymptoms) -> Consultation:
    async with uow:
        stores = Stores(uow.session)
        session = await _session(stores, cmd.clinical_session_id, lock=True)
        intake = await stores.intakes.get(session.intake_id)
        assert intake is not None
        chosen = await stores.doctors.get(session.doctor_id) if session.doctor_id else None
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
            candidates=await candidates(ctx, stores),
            now=now,
            accept_within=ctx.settings.accept_within,
        )
        await stores.sessions.save(session)
        await stores.consultations.save(consultation)
        await stores.audited(
            cmd.patient, "SubmitSymptoms", SubjectKind.CONSULTATION, consultation.id, now
        )
        publish(uow, session, consultation, correlation_id=session.checkout_id)
        await uow.commit()
        return consultation


async def _consultation(
    stores: Stores, consultation_id: str, caller: Caller, *, lock: bool = False
) -> Consultation:
    consultation = await stores.consultations.get(consultation_id, for_update=lock)
    if consultation is None:
        raise ConsultationNotFound(consultation_id)
    consultation.ensure_visible_to(caller)
    return consultation


async def get_consultation(
    ctx: Context, uow: UnitOfWork, consultation_id: str, caller: Caller
) -> Consultation:
    async with uow:
        stores = Stores(uow.session)
        consultation = await _consultation(stores, consultation_id, caller)
        await stores.audited(
            caller, "GetConsultation", SubjectKind.CONSULTATION, consultation.id, ctx.clock()
        )
        await uow.commit()
        return consultation


async def list_consultations(
    ctx: Context, uow: UnitOfWork, caller: Caller, **page: object
) -> list[Consultation]:
    """A patient's or a doctor's own consultations; each one shown is audited."""
    async with uow:
        stores = Stores(uow.session)
        found = await stores.consultations.page(**page)
        now = ctx.clock()
        for consultation in found:
            await stores.audited(
                caller, "ListConsultations", SubjectKind.CONSULTATION, consultation.id, now
            )
        await uow.commit()
        return found


async def act(
    ctx: Context, uow: UnitOfWork, consultation_id: str, caller: Caller, action: str, **kw
) -> Consultation:
    """A doctor accepts, declines (handed on, or refunded) or completes a consultation."""
    async with uow:
        stores = Stores(uow.session)
        consultation = await _consultation(stores, consultation_id, caller, lock=True)
        now = ctx.clock()
        if action == "AcceptConsultation":
            consultation.accept(caller.id, now)
        elif action == "DeclineConsultation":
            consultation.decline(
                caller.id, str(kw["reason"]), candidates=await candidates(ctx, stores), now=now
            )
        else:
            consultation.complete(caller.id, str(kw["notes"]), now)
        await stores.consultations.save(consultation)
        await stores.audited(caller, action, SubjectKind.CONSULTATION, consultation.id, now)
        publish(uow, consultation, correlation_id=consultation.checkout_id)
        await uow.commit()
        return consultation


async def post(
    ctx: Context, uow: UnitOfWork, consultation_id: str, caller: Caller, text: str
) -> ChatMessage:
    async with uow:
        stores = Stores(uow.session)
        consultation = await _consultation(stores, consultation_id, caller, lock=True)
        message = post_message(
            consultation, caller, message_id=str(uuid.uuid4()), text=text, now=ctx.clock()
        )
        await stores.messages.add(message)
        await stores.consultations.save(consultation)
        await uow.commit()
        return message


async def messages_after(
    ctx: Context,
    uow: UnitOfWork,
    consultation_id: str,
    caller: Caller,
    after_sequence: int,
    *,
    audit: bool,
) -> list[ChatMessage]:
    """The chat after what the caller has seen, for the patient and their doctor only."""
    async with uow:
        stores = Stores(uow.session)
        consultation = await _consultation(stores, consultation_id, caller)
        chat_role(consultation, caller)
        found = await stores.messages.after(consultation.id, after_sequence, 500)
        if audit:
            await stores.audited(
                caller, "StreamMessages", SubjectKind.CONSULTATION, consultation.id, ctx.clock()
            )
        await uow.commit()
        return found


async def set_shifts(ctx: Context, uow: UnitOfWork, doctor_id: str, shifts: WeeklyShifts) -> Doctor:
    async with uow:
        stores = Stores(uow.session)
        doctor = await _doctor(stores, doctor_id, lock=True)
        doctor.shifts = shifts
        await stores.doctors.save(doctor)
        await uow.commit()
        return doctor


async def _doctor(stores: Stores, doctor_id: str, *, lock: bool = False) -> Doctor:
    doctor = await stores.doctors.get(doctor_id, for_update=lock)
    if doctor is None:
        raise DoctorNotFound(doctor_id)
    return doctor


async def get_doctor(ctx: Context, uow: UnitOfWork, doctor_id: str) -> Doctor:
    async with uow:
        return await _doctor(Stores(uow.session), doctor_id)


async def set_prices(
    ctx: Context, uow: UnitOfWork, doctor_id: str | None, prices: PriceList
) -> PriceList:
    """A doctor's own prices, or the platform defaults when no doctor is named."""
    async with uow:
        stores = Stores(uow.session)
        if doctor_id is None:
            await stores.prices.save(prices, ctx.clock())
        else:
            doctor = await _doctor(stores, doctor_id, lock=True)
            doctor.prices = prices
            await stores.doctors.save(doctor)
        await uow.commit()
        return prices


async def doctor_updated(
    ctx: Context, uow: UnitOfWork, doctor_id: str, time_zone: str, active: bool, updated_at
) -> None:
    """Booking's directory changed: keep the newest copy (shifts and prices are ours)."""
    async with uow:
        stores = Stores(uow.session)
        doctor = await stores.doctors.get(doctor_id, for_update=True)
        if doctor is None:
            doctor = Doctor(doctor_id, time_zone, active, updated_at)
        elif not doctor.directory_updated(
            time_zone=time_zone, active=active, updated_at=updated_at
        ):
            return
        await stores.doctors.save(doctor)
        await uow.commit()


async def expire_session(ctx: Context, uow: UnitOfWork, session_id: str) -> None:
    """A session whose symptoms never came is refunded, once."""
    async with uow:
        stores = Stores(uow.session)
        session = await _session(stores, session_id, lock=True)
        if session.expire(ctx.clock()):
            await stores.sessions.save(session)
            publish(uow, session, correlation_id=session.checkout_id)
        await uow.commit()


async def refund_untaken(ctx: Context, uow: UnitOfWork, consultation_id: str) -> None:
    async with uow:
        stores = Stores(uow.session)
        consultation = await stores.consultations.get(consultation_id, for_update=True)
        if consultation is not None and consultation.refund_if_untaken(ctx.clock()):
            await stores.consultations.save(consultation)
            publish(uow, consultation, correlation_id=consultation.checkout_id)
        await uow.commit()


async def assign_queue(ctx: Context, uow: UnitOfWork) -> int:
    """Queued consultations go to doctors whose shift has started, most pressing first."""
    async with uow:
        stores = Stores(uow.session)
        waiting = await stores.consultations.waiting(ctx.settings.batch, for_update=True)
        if not waiting:
            return 0
        assigned = assign_waiting(waiting, await candidates(ctx, stores), ctx.clock())
        for consultation in assigned:
            await stores.consultations.save(consultation)
            publish(uow, consultation, correlation_id=consultation.checkout_id)
        await uow.commit()
        return len(assigned)


async def due(ctx: Context, uow: UnitOfWork) -> tuple[Sequence[str], Sequence[str]]:
    """Sessions past their expiry, and consultations nobody took by their deadline."""
    async with uow:
        stores = Stores(uow.session)
        now = ctx.clock()
        return (
            await stores.sessions.awaiting_past_expiry(now, ctx.settings.batch),
            await stores.consultations.untaken_past_deadline(now, ctx.settings.batch),
        )
