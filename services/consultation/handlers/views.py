"""What consultation shows. Every read of clinical data (a session, a consultation, a page
of them, a chat) is audited in the same transaction, so those reads write one entry per
record shown and take the context for its clock; the doctor's shifts, a checkout and the
admins' audit trail are read as they are. A look refused (someone else's record) is
audited too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from purchasing.handlers import load_checkout
from runtime import errors
from runtime.wire import PageRequest
from services.consultation.domain.audit import AuditEntry, SubjectKind
from services.consultation.domain.caller import Caller
from services.consultation.domain.chat import ChatMessage, chat_role
from services.consultation.domain.checkout import Checkout
from services.consultation.domain.consultation import ONGOING, Consultation, ConsultationStatus
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.errors import ConsultationNotFound
from services.consultation.domain.session import ClinicalSession, ClinicalSessionStatus
from services.consultation.handlers.clinical import load_doctor, load_session
from services.consultation.handlers.context import Context
from services.consultation.handlers.unit_of_work import ConsultationUnit, audited

# The most chat messages one read returns; a stream reads again for the rest.
CHAT_BATCH = 500


async def checkout(uow: ConsultationUnit, checkout_id: str, viewer: str | None) -> Checkout:
    """The checkout, if it is patient `viewer`'s (any for None: an admin)."""
    async with uow:
        return await load_checkout(uow.checkouts, checkout_id, viewer)


async def clinical_session(
    ctx: Context, uow: ConsultationUnit, session_id: str, caller: Caller
) -> ClinicalSession:
    async with uow:
        session = await load_session(uow, session_id)
        await _unless_refused(
            ctx, uow, caller, "GetClinicalSession", SubjectKind.CLINICAL_SESSION, session
        )
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


async def consultation(
    ctx: Context, uow: ConsultationUnit, consultation_id: str, caller: Caller
) -> Consultation:
    async with uow:
        found = await _visible_consultation(ctx, uow, consultation_id, caller, "GetConsultation")
        await audited(
            uow, caller, "GetConsultation", SubjectKind.CONSULTATION, found.id, now=ctx.clock()
        )
        await uow.commit()
        return found


async def _unless_refused(
    ctx: Context,
    uow: ConsultationUnit,
    caller: Caller,
    action: str,
    kind: SubjectKind,
    record: ClinicalSession | Consultation,
) -> None:
    """A look at a record the caller may not see is refused as if it did not exist, and
    audited as refused (`<action>:refused`) in a commit of its own before the refusal: who
    probes for others' clinical data is as much the audit's business as who reads it."""
    try:
        record.ensure_visible_to(caller)
    except errors.NotFound:
        await audited(uow, caller, f"{action}:refused", kind, record.id, now=ctx.clock())
        await uow.commit()
        raise


async def _visible_consultation(
    ctx: Context, uow: ConsultationUnit, consultation_id: str, caller: Caller, action: str
) -> Consultation:
    found = await uow.consultations.get(consultation_id)
    if found is None:
        raise ConsultationNotFound(consultation_id)
    await _unless_refused(ctx, uow, caller, action, SubjectKind.CONSULTATION, found)
    return found


async def clinical_sessions(
    ctx: Context,
    uow: ConsultationUnit,
    caller: Caller,
    status: ClinicalSessionStatus | None,
    asked: PageRequest,
) -> tuple[list[ClinicalSession], str]:
    """The patient's own sessions, newest first; those on the page are audited as shown."""
    async with uow:
        found = await uow.clinical_sessions.page(caller.id, status, asked.after, asked.limit)
        page, token = asked.cut(found, lambda shown: (shown.opened_at, shown.id))
        shown = (session.id for session in page)
        await audited(
            uow,
            caller,
            "ListClinicalSessions",
            SubjectKind.CLINICAL_SESSION,
            *shown,
            now=ctx.clock(),
        )
        await uow.commit()
        return page, token


@dataclass(frozen=True)
class ConsultationsQuery:
    # A patient's or a doctor's own; both None for staff.
    patient_id: str | None
    doctor_id: str | None
    status: ConsultationStatus | None


async def consultations(
    ctx: Context,
    uow: ConsultationUnit,
    caller: Caller,
    query: ConsultationsQuery,
    asked: PageRequest,
) -> tuple[list[Consultation], str]:
    """Newest first. Only the consultations on the page are audited as shown, not the one
    read beyond it to know whether another page follows."""
    async with uow:
        found = await uow.consultations.page(**vars(query), after=asked.after, limit=asked.limit)
        page, token = asked.cut(found, lambda shown: (shown.created_at, shown.id))
        shown = (consultation.id for consultation in page)
        await audited(
            uow, caller, "ListConsultations", SubjectKind.CONSULTATION, *shown, now=ctx.clock()
        )
        await uow.commit()
        return page, token


async def chat(
    ctx: Context, consultation_id: str, caller: Caller, after_sequence: int
) -> AsyncIterator[ChatMessage]:
    """The chat after what the caller has seen, in order, then each new message as it
    commits, for the patient and their doctor only; it ends once the consultation is over
    and everything said in it has been sent. Audited once, at the first read."""
    seen = after_sequence
    audit = True
    async with ctx.chats.watch(consultation_id) as news:
        while True:
            found, ongoing = await _messages_after(ctx, consultation_id, caller, seen, audit)
            audit = False
            for message in found:
                yield message
                seen = message.sequence
            if len(found) == CHAT_BATCH:
                continue
            # The status was read before the messages, and nothing is posted to a chat
            # after it closes: a closed chat's last read holds its last message.
            if not ongoing:
                return
            await news()


async def _messages_after(
    ctx: Context, consultation_id: str, caller: Caller, after_sequence: int, audit: bool
) -> tuple[list[ChatMessage], bool]:
    """The messages after `after_sequence`, and whether the chat is still open."""
    uow = ctx.unit_of_work()
    async with uow:
        found_in = await _visible_consultation(ctx, uow, consultation_id, caller, "StreamMessages")
        chat_role(found_in, caller)
        found = await uow.messages.after(found_in.id, after_sequence, CHAT_BATCH)
        if audit:
            await audited(
                uow,
                caller,
                "StreamMessages",
                SubjectKind.CONSULTATION,
                found_in.id,
                now=ctx.clock(),
            )
            await uow.commit()
        return found, found_in.status in ONGOING


async def doctor(uow: ConsultationUnit, doctor_id: str) -> Doctor:
    async with uow:
        return await load_doctor(uow, doctor_id)


@dataclass(frozen=True)
class AuditQuery:
    subject_id: str | None
    actor_id: str | None


async def audit_entries(
    uow: ConsultationUnit, query: AuditQuery, asked: PageRequest
) -> tuple[list[AuditEntry], str]:
    """Newest first."""
    async with uow:
        found = await uow.audit.page(**vars(query), after=asked.after, limit=asked.limit)
    return asked.cut(found, lambda entry: (entry.occurred_at, entry.id))
