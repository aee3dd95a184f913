"""What the services' logs keep of a patient: nothing to know them by. The seeded patient
(with an e-mail address and a phone number that development delivers to through the log
sink) consults a doctor end to end, and then no line of any service's log holds their
address, their phone number, what they wrote about their symptoms, a chat line, what
their notifications told them, a bearer token or a caller's network address."""

from __future__ import annotations

import contextlib
import json

import pytest
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.notification.v1 import notification_service_pb2 as npb
from nobat.notification.v1 import notification_service_pb2_grpc

from stack.local import SERVICES
from stack.seed import CONTACT, PATIENT, seed
from tests.e2e.flows import CONFIRMED, WALLET, key, running_stack
from tests.instants import LEAP_DAY
from tests.processes import eventually

pytestmark = pytest.mark.e2e

COMPLAINT = "Itchy rash on both forearms since the hike to Darband"
DETAILS = "It spreads after a hot shower.\nThe cream from last winter did not help."
CHAT = "Could it be the new washing powder from Tajrish bazaar?"
REPLY = "Possibly; stop using it for a week and send a photo"
DELIVERED = npb.DELIVERY_STATUS_DELIVERED


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        LEAP_DAY,
        NOBAT_NOTIFICATION_DELIVERY_INTERVAL_SECONDS="0.2",
        NOBAT_CONSULTATION_JOB_INTERVAL_SECONDS="0.3",
    ) as stack:
        seed(stack)
        yield stack


async def consulted(nobat, patient) -> cpb.Consultation:
    """A chat consultation paid from the seeded wallet, with the symptoms submitted."""
    intake = cpb.StartIntakeRequest(
        idempotency_key=key(),
        complaint=COMPLAINT,
        symptoms=[cpb.ReportedSymptom(code="rash", days_since_onset=3)],
        age_years=41,
    )
    _, checkout = await nobat.chat_checkout(patient, intake, method=WALLET)
    paid = await nobat.checkout_until(patient, checkout.id, CONFIRMED, context="consultation")
    return (
        await patient.consultation.SubmitSymptoms(
            cpb.SubmitSymptomsRequest(
                idempotency_key=key(),
                clinical_session_id=paid.clinical_session_id,
                details=DETAILS,
            )
        )
    ).consultation


def readable(log: str) -> str:
    """A service's log as its lines say it: JSON escapes Persian text (\\u06xx), which a
    search for the words must see through; each line as written, then its values decoded."""
    decoded = []
    for line in log.splitlines():
        with contextlib.suppress(ValueError):
            decoded += [str(value) for value in json.loads(line).values()]
    return "\n".join([log, *decoded])


async def test_no_log_line_holds_a_patients_address_words_token_or_network_address(nobat, stack):
    patient = nobat.patient(PATIENT)
    consultation = await consulted(nobat, patient)
    doctor = nobat.doctor(consultation.doctor_id)
    await doctor.consultation.AcceptConsultation(
        cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
    )
    for speaker, text in ((patient, CHAT), (doctor, REPLY)):
        await speaker.consultation.PostMessage(
            cpb.PostMessageRequest(
                idempotency_key=key(), consultation_id=consultation.id, text=text
            )
        )

    inbox = notification_service_pb2_grpc.NotificationServiceStub(nobat.channel("notification"))
    told: list[npb.Notification] = []

    async def delivered() -> bool:
        reply = await inbox.ListNotifications(
            npb.ListNotificationsRequest(), metadata=patient.metadata, timeout=20
        )
        told[:] = [n for n in reply.notifications if n.subject_id == consultation.id]
        return len(told) >= 2 and all(d.status == DELIVERED for n in told for d in n.deliveries)

    await eventually(delivered, 30, "the patient's consultation news delivered by e-mail and SMS")
    logged = {name: readable(stack.services[name].log_path.read_text()) for name in SERVICES}
    # The log sink did write a line for each delivery: the check below is not of empty logs.
    assert all(n.id in logged["notification"] for n in told)

    email, phone = (channel.address for channel in CONTACT)
    private = {
        "e-mail address": email,
        "phone number": phone.removeprefix("+"),
        "complaint": COMPLAINT,
        "symptoms": DETAILS.splitlines()[0],
        "chat line": CHAT,
        "doctor's reply": REPLY,
        **{f"notification title {n.sequence}": n.title for n in told},
        **{f"notification body {n.sequence}": n.body for n in told},
        "patient's token": patient.metadata[0][1].removeprefix("Bearer "),
        "doctor's token": doctor.metadata[0][1].removeprefix("Bearer "),
        "a caller's network address": "ipv4:127.0.0.1",
    }
    found = [
        f"{what} in {service}.log"
        for what, text in private.items()
        for service, log in logged.items()
        if text in log
    ]
    assert found == []
