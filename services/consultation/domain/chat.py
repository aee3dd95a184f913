"""Chat on a consultation, between the patient and the doctor it is assigned to.

Messages are numbered 1, 2, 3, … per consultation without gaps (the consultation's row
lock serialises posting), so delivery follows the sequence and a client that reconnects
resumes after the last sequence it saw. The chat is open while the consultation is
ongoing; afterwards its history can still be read, by the same two people only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from runtime.errors import InvalidArgument
from runtime.instants import require_utc
from services.consultation.domain.caller import Caller
from services.consultation.domain.consultation import ONGOING, Consultation
from services.consultation.domain.errors import ChatClosed, ConsultationNotFound
from services.consultation.domain.intake import text_violations

MAX_TEXT_LENGTH = 4000


class ChatRole(Enum):
    PATIENT = "patient"
    DOCTOR = "doctor"


@dataclass(frozen=True)
class ChatMessage:
    id: str
    consultation_id: str
    sequence: int
    sender_id: str
    sender_role: ChatRole
    text: str
    sent_at: datetime


def chat_role(consultation: Consultation, caller: Caller) -> ChatRole:
    """The caller's part in this chat; NotFound for anyone else, admins included, since
    the conversation is between the patient and their doctor."""
    if caller.is_patient(consultation.patient_id):
        return ChatRole.PATIENT
    if caller.is_doctor(consultation.doctor_id):
        return ChatRole.DOCTOR
    raise ConsultationNotFound(consultation.id)


def write_message(
    consultation: Consultation, caller: Caller, *, message_id: str, text: str, now: datetime
) -> ChatMessage:
    require_utc(now, "now")
    role = chat_role(consultation, caller)
    violations = text_violations(text, "text", MAX_TEXT_LENGTH)
    if violations:
        raise InvalidArgument.many(violations)
    if consultation.status not in ONGOING:
        raise ChatClosed(consultation.id, consultation.status.value)
    return ChatMessage(
        id=message_id,
        consultation_id=consultation.id,
        sequence=consultation.next_message_sequence(),
        sender_id=caller.id,
        sender_role=role,
        text=text,
        sent_at=now,
    )


def messages_after(messages: Iterable[ChatMessage], after_sequence: int) -> list[ChatMessage]:
    """What a client that has seen up to `after_sequence` (0: nothing) receives, in order."""
    if type(after_sequence) is not int or after_sequence < 0:
        raise InvalidArgument("after_sequence", "must be 0 or the last sequence received")
    return sorted(
        (message for message in messages if message.sequence > after_sequence),
        key=lambda message: message.sequence,
    )
