from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.errors import InvalidArgument
from services.consultation.domain.caller import Caller, Role
from services.consultation.domain.chat import (
    ChatMessage,
    ChatRole,
    chat_role,
    messages_after,
    write_message,
)
from services.consultation.domain.errors import ChatClosed, ConsultationNotFound
from tests.unit.consultation.builders import (
    NOW,
    PATIENT,
    a_consultation,
    a_doctor,
    candidates,
    doctor_caller,
)

DOCTOR = doctor_caller("doctor-1")


def post(consultation, caller, text: str = "Hello", n: int = 1) -> ChatMessage:
    return write_message(
        consultation, caller, message_id=f"m{n}", text=text, now=NOW + timedelta(seconds=n)
    )


def test_the_patient_and_the_assigned_doctor_chat_in_sequence_without_gaps():
    consultation = a_consultation(on_shift=[a_doctor()])

    sent = [
        post(consultation, PATIENT, "It hurts to swallow.", 1),
        post(consultation, DOCTOR, "Since when?", 2),
        post(consultation, PATIENT, "Two days.", 3),
    ]

    assert [(m.sequence, m.sender_id, m.sender_role) for m in sent] == [
        (1, "patient-1", ChatRole.PATIENT),
        (2, "doctor-1", ChatRole.DOCTOR),
        (3, "patient-1", ChatRole.PATIENT),
    ]
    assert consultation.last_message_sequence == 3


def test_nobody_else_may_post_or_read_not_even_an_admin():
    consultation = a_consultation(on_shift=[a_doctor()])

    for stranger in (
        Caller("patient-2", Role.PATIENT),
        doctor_caller("doctor-2"),
        Caller("admin-1", Role.ADMIN),
        Caller("doctor-1", Role.PATIENT),
    ):
        with pytest.raises(ConsultationNotFound):
            post(consultation, stranger)
        with pytest.raises(ConsultationNotFound):
            chat_role(consultation, stranger)
    assert consultation.last_message_sequence == 0


def test_a_doctor_who_declined_loses_the_chat_to_the_next_one():
    consultation = a_consultation(on_shift=[a_doctor()])
    post(consultation, DOCTOR)

    consultation.decline(
        "doctor-1", "", candidates=candidates(a_doctor(), a_doctor("doctor-2")), now=NOW
    )

    with pytest.raises(ConsultationNotFound):
        post(consultation, DOCTOR, n=2)
    assert post(consultation, doctor_caller("doctor-2"), n=3).sequence == 2


def test_a_queued_consultation_has_only_the_patient_in_its_chat():
    consultation = a_consultation()

    assert post(consultation, PATIENT).sender_role is ChatRole.PATIENT


def test_a_finished_consultation_keeps_its_history_but_takes_no_messages():
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.accept("doctor-1", NOW)
    consultation.complete("doctor-1", "Rest and fluids.", NOW)

    with pytest.raises(ChatClosed):
        post(consultation, PATIENT)
    assert chat_role(consultation, PATIENT) is ChatRole.PATIENT
    assert chat_role(consultation, DOCTOR) is ChatRole.DOCTOR


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
def test_an_empty_or_oversized_message_is_refused_and_uses_no_sequence(text):
    consultation = a_consultation(on_shift=[a_doctor()])

    with pytest.raises(InvalidArgument) as raised:
        post(consultation, PATIENT, text)

    assert raised.value.violations[0][0] == "text"
    assert consultation.last_message_sequence == 0


def test_a_reconnecting_client_resumes_after_the_last_sequence_it_saw_in_order():
    consultation = a_consultation(on_shift=[a_doctor()])
    sent = [post(consultation, PATIENT, f"message {n}", n) for n in range(1, 6)]
    stored = [sent[3], sent[0], sent[4], sent[2], sent[1]]

    assert messages_after(stored, 0) == sent
    assert messages_after(stored, 3) == sent[3:]
    assert messages_after(stored, 5) == []
    with pytest.raises(InvalidArgument, match="after_sequence"):
        messages_after(stored, -1)
