"""Text no field may hold, sent to every service as a client would: NUL and other control
characters, line breaks where one line is expected, and bidirectional controls in names
and chat are INVALID_ARGUMENT naming the field, before any handler runs, and nothing is
stored (runtime.text)."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.common.v1 import money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.notification.v1 import notification_service_pb2 as npb
from nobat.notification.v1 import notification_service_pb2_grpc
from nobat.payment.v1 import payment_service_pb2 as ppb

from tests.e2e.flows import key, refusal, running_stack
from tests.instants import NEW_YEARS_EVE

pytestmark = pytest.mark.e2e

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "Dr. \u202eimalhA" shows as "Dr. Ahlami"


@pytest.fixture(scope="module")
def stack():
    with running_stack(NEW_YEARS_EVE) as stack:
        yield stack


async def refused(call: Awaitable[object]) -> list[str]:
    """The fields an INVALID_ARGUMENT answer to `call` names."""
    code, fields, rule = await refusal(call)
    assert (code, rule) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    return fields


async def test_a_nul_is_invalid_argument_naming_the_field_in_every_service(nobat):
    patient, admin = nobat.patient(), nobat.admin()
    notifications = notification_service_pb2_grpc.NotificationServiceStub(
        nobat.channel("notification")
    )

    assert await refused(
        patient.booking.GetDoctor(bpb.GetDoctorRequest(doctor_id="doc\x00tor"))
    ) == ["doctor_id"]
    assert await refused(
        patient.payment.GetPayment(ppb.GetPaymentRequest(payment_id="pay\x00x"))
    ) == ["payment_id"]
    contact = npb.RegisterContactRequest(
        idempotency_key=key(),
        locale=npb.LOCALE_EN,
        channels=[
            npb.ContactChannel(channel=npb.CHANNEL_EMAIL, address="me@example.com"),
            npb.ContactChannel(channel=npb.CHANNEL_SMS, address="+98912\x001234567"),
        ],
    )
    registered = notifications.RegisterContact(contact, metadata=patient.metadata, timeout=20)
    assert await refused(registered) == ["channels[1].address"]
    audit = cpb.ListAuditEntriesRequest(actor_id="\x00")
    assert await refused(admin.consultation.ListAuditEntries(audit)) == ["actor_id"]


async def test_a_refused_intake_stores_nothing_and_leaves_its_key_free(nobat):
    patient = nobat.patient()
    request = cpb.StartIntakeRequest(
        idempotency_key=key(),
        complaint="cough\x00",
        symptoms=[cpb.ReportedSymptom(code="cough\x1b")],
        age_years=34,
    )
    assert await refused(patient.consultation.StartIntake(request)) == [
        "complaint",
        "symptoms[0].code",
    ]
    stored = await nobat.rows(
        "consultation", "SELECT count(*) FROM intakes WHERE patient_id = :p", p=patient.subject
    )
    assert stored[0][0] == 0
    request.complaint = "A dry cough for four days.\nWorse at night."
    request.symptoms[0].code = "cough"
    intake = (await patient.consultation.StartIntake(request)).intake
    # Sentences a patient writes may span lines.
    assert intake.complaint == "A dry cough for four days.\nWorse at night."


async def test_a_stream_is_refused_before_it_opens(nobat):
    patient = nobat.patient()
    stream = patient.consultation.stub.StreamMessages(
        cpb.StreamMessagesRequest(consultation_id="c\x00"), metadata=patient.metadata, timeout=20
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stream:
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("consultation_id: must not contain control")


async def test_a_name_that_would_display_reordered_or_on_two_lines_is_refused(nobat):
    admin = nobat.admin()
    for name, rule in (
        (f"Dr. {RLO}imalhA", "not contain bidirectional embedding, override or isolate"),
        ("Dr. Sara\nAhmadi", "be a single line"),
    ):
        doctor_id = f"doctor-{key()[:8]}"
        request = bpb.CreateDoctorRequest(
            idempotency_key=key(),
            doctor_id=doctor_id,
            display_name=name,
            specialty="dermatology",
            time_zone="Asia/Tehran",
            appointment_fee=money_pb2.Money(amount_minor=50_000, currency="USD"),
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.booking.CreateDoctor(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith(f"display_name: must {rule}")
        with pytest.raises(grpc.aio.AioRpcError) as absent:
            await admin.booking.GetDoctor(bpb.GetDoctorRequest(doctor_id=doctor_id))
        assert absent.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_chat_line_with_a_bidi_override_is_refused_before_its_consultation_is_looked_up(
    nobat,
):
    patient = nobat.patient()
    request = cpb.PostMessageRequest(
        idempotency_key=key(),
        consultation_id="3f2c9a4e-8b1d-4c7a-9e2f-5d6b7a8c9d0e",
        text=f"Please pay the fee to {RLO}0987654321",
    )
    assert await refused(patient.consultation.PostMessage(request)) == ["text"]
