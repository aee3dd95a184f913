"""A consultation end to end: intake and triage, a paid checkout that only opens a
clinical session, the symptoms that make the consultation and give it to a doctor on
shift, the doctor's answer and the chat, over all four services as processes."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.type import timeofday_pb2
from nobat.common.v1 import money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb

from cli import invariants
from tests.e2e.flows import (
    CONFIRMED,
    FAILED,
    GATEWAY,
    UNCHARGEABLE,
    WALLET,
    Nobat,
    key,
    refusal,
    running_stack,
)
from tests.instants import LEAP_DAY
from tests.processes import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        LEAP_DAY,
        NOBAT_CONSULTATION_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS="1",
    ) as stack:
        yield stack


async def doctor_on_shift(nobat: Nobat) -> str:
    """A doctor in booking's directory, on shift around the clock in consultation."""
    doctor_id = await nobat.new_doctor(days=0)
    await put_on_shift(nobat, doctor_id)
    return doctor_id


async def put_on_shift(nobat: Nobat, doctor_id: str) -> None:
    """Once booking's DoctorUpdated reached consultation: on shift around the clock."""
    admin = nobat.admin()

    async def known() -> bool:
        try:
            await admin.consultation.ListDoctorShifts(
                cpb.ListDoctorShiftsRequest(doctor_id=doctor_id)
            )
            return True
        except grpc.aio.AioRpcError:
            return False

    await eventually(known, 20, "the doctor in consultation's directory")
    await admin.consultation.SetDoctorShifts(
        cpb.SetDoctorShiftsRequest(
            idempotency_key=key(),
            doctor_id=doctor_id,
            shifts=[
                cpb.Shift(
                    day_of_week=day,
                    start_time=timeofday_pb2.TimeOfDay(hours=0),
                    end_time=timeofday_pb2.TimeOfDay(hours=24),
                )
                for day in range(1, 8)
            ],
        )
    )


async def prices(nobat: Nobat) -> None:
    await nobat.admin().consultation.SetConsultationPrices(
        cpb.SetConsultationPricesRequest(
            idempotency_key=key(),
            prices=[
                cpb.ConsultationPrice(type=kind, price={"amount_minor": amount, "currency": "USD"})
                for kind, amount in (
                    (cpb.CONSULTATION_TYPE_CHAT, 2_000),
                    (cpb.CONSULTATION_TYPE_VIDEO, 4_000),
                    (cpb.CONSULTATION_TYPE_EMERGENCY, 6_000),
                )
            ],
        )
    )


def coughing() -> cpb.StartIntakeRequest:
    return cpb.StartIntakeRequest(
        idempotency_key=key(),
        complaint="A dry cough for four days",
        symptoms=[cpb.ReportedSymptom(code="cough", days_since_onset=4)],
        age_years=34,
        sex=cpb.SEX_FEMALE,
    )


async def coughing_intake(patient) -> cpb.Intake:
    return (await patient.consultation.StartIntake(coughing())).intake


async def paid_session(nobat: Nobat, patient, doctor_id: str | None = None):
    intake, checkout = await nobat.chat_checkout(patient, coughing(), doctor_id=doctor_id or "")
    assert cpb.CONSULTATION_TYPE_CHAT in [offer.type for offer in intake.offers]
    assert checkout.price.amount_minor == 2_000
    await nobat.pay(checkout)
    return await nobat.checkout_until(patient, checkout.id, CONFIRMED, context="consultation")


async def test_the_two_phase_flow_from_intake_to_completed_chat(nobat, stack):
    await prices(nobat)
    doctor_id = await doctor_on_shift(nobat)
    patient = nobat.patient()
    checkout = await paid_session(nobat, patient, doctor_id)

    session = (
        await patient.consultation.GetClinicalSession(
            cpb.GetClinicalSessionRequest(clinical_session_id=checkout.clinical_session_id)
        )
    ).clinical_session
    assert session.status == cpb.CLINICAL_SESSION_STATUS_AWAITING_SYMPTOMS
    assert not session.consultation_id  # no consultation and no doctor before the symptoms

    consultation = (
        await patient.consultation.SubmitSymptoms(
            cpb.SubmitSymptomsRequest(
                idempotency_key=key(),
                clinical_session_id=session.id,
                details="Worse at night, no fever",
                symptoms=[cpb.ReportedSymptom(code="cough", days_since_onset=5)],
            )
        )
    ).consultation
    assert consultation.status == cpb.CONSULTATION_STATUS_DOCTOR_REVIEW_PENDING
    assert consultation.doctor_id == doctor_id
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await patient.consultation.SubmitSymptoms(
            cpb.SubmitSymptomsRequest(
                idempotency_key=key(), clinical_session_id=session.id, details="again"
            )
        )
    assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    doctor = nobat.doctor(doctor_id)
    await doctor.consultation.AcceptConsultation(
        cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
    )
    for speaker, text in ((patient, "Hello doctor"), (doctor, "Hello, tell me more")):
        await speaker.consultation.PostMessage(
            cpb.PostMessageRequest(
                idempotency_key=key(), consultation_id=consultation.id, text=text
            )
        )

    async def read(caller, after: int, count: int) -> list:
        stream = caller.consultation.stub.StreamMessages(
            cpb.StreamMessagesRequest(consultation_id=consultation.id, after_sequence=after),
            metadata=caller.metadata,
        )
        got = []
        async for reply in stream:
            got.append((reply.message.sequence, reply.message.text))
            if len(got) == count:
                stream.cancel()
                break
        return got

    assert await asyncio.wait_for(read(doctor, 0, 2), 10) == [
        (1, "Hello doctor"),
        (2, "Hello, tell me more"),
    ]
    assert await asyncio.wait_for(read(patient, 1, 1), 10) == [(2, "Hello, tell me more")]
    stranger = nobat.patient()
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await stranger.consultation.GetConsultation(
            cpb.GetConsultationRequest(consultation_id=consultation.id)
        )
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND

    # A stream open while the chat goes on hears what is said, then ends with the chat.
    live = patient.consultation.stub.StreamMessages(
        cpb.StreamMessagesRequest(consultation_id=consultation.id, after_sequence=2),
        metadata=patient.metadata,
    )
    await doctor.consultation.PostMessage(
        cpb.PostMessageRequest(
            idempotency_key=key(), consultation_id=consultation.id, text="Rest and fluids"
        )
    )
    said = (await asyncio.wait_for(live.read(), 10)).message
    assert (said.sequence, said.text) == (3, "Rest and fluids")
    done = (
        await doctor.consultation.CompleteConsultation(
            cpb.CompleteConsultationRequest(
                idempotency_key=key(), consultation_id=consultation.id, notes="Rest, fluids"
            )
        )
    ).consultation
    assert done.status == cpb.CONSULTATION_STATUS_COMPLETED
    assert await asyncio.wait_for(live.read(), 10) is grpc.aio.EOF
    assert await live.code() == grpc.StatusCode.OK
    audit = (
        await nobat.admin().consultation.ListAuditEntries(
            cpb.ListAuditEntriesRequest(subject_id=consultation.id)
        )
    ).entries
    assert {"SubmitSymptoms", "AcceptConsultation", "StreamMessages"} <= {e.action for e in audit}
    await eventually(lambda: _holds(stack), 30, "every invariant to hold after the consultation")


async def test_a_failed_payment_opens_no_clinical_session(nobat):
    await prices(nobat)
    patient = nobat.patient()
    _, checkout = await nobat.chat_checkout(
        patient,
        cpb.StartIntakeRequest(
            idempotency_key=key(),
            complaint="Headache",
            symptoms=[cpb.ReportedSymptom(code="headache")],
            age_years=40,
        ),
    )
    await nobat.pay(checkout, "decline")
    await nobat.checkout_until(patient, checkout.id, FAILED, timeout=20, context="consultation")
    rows = await nobat.rows(
        "consultation",
        "SELECT count(*) FROM clinical_sessions WHERE checkout_id = :c",
        c=checkout.id,
    )
    assert rows[0][0] == 0


async def sessions_of(nobat: Nobat, checkout_id: str) -> int:
    rows = await nobat.rows(
        "consultation",
        "SELECT count(*) FROM clinical_sessions WHERE checkout_id = :c",
        c=checkout_id,
    )
    return rows[0][0]


async def test_a_declined_consultation_payment_opens_its_session_once_retried(nobat):
    await prices(nobat)
    patient = nobat.patient()
    _, checkout = await nobat.chat_checkout(patient, coughing())
    await nobat.pay(checkout, "decline")
    failed = await nobat.checkout_until(
        patient, checkout.id, FAILED, timeout=20, context="consultation"
    )
    assert failed.payment_failure.retryable

    retried = await nobat.retry(patient, checkout.id, context="consultation")
    assert retried.checkout_url != checkout.checkout_url
    await nobat.pay(retried)
    confirmed = await nobat.checkout_until(
        patient, checkout.id, CONFIRMED, timeout=20, context="consultation"
    )

    assert confirmed.clinical_session_id
    assert await sessions_of(nobat, checkout.id) == 1


async def test_a_short_wallet_switches_a_consultation_to_the_gateway(nobat):
    await prices(nobat)
    patient = nobat.patient()
    _, short = await nobat.chat_checkout(patient, coughing(), method=WALLET)
    assert short.status == FAILED and short.payment_failure.code == "insufficient_funds"

    switched = await nobat.retry(patient, short.id, GATEWAY, context="consultation")
    assert switched.method == GATEWAY
    await nobat.pay(switched)
    await nobat.checkout_until(patient, short.id, CONFIRMED, timeout=20, context="consultation")

    assert await sessions_of(nobat, short.id) == 1


async def test_red_flags_advise_emergency_care_and_offer_no_checkout(nobat):
    patient = nobat.patient()
    intake = (
        await patient.consultation.StartIntake(
            cpb.StartIntakeRequest(
                idempotency_key=key(),
                complaint="Crushing chest pain and short of breath",
                symptoms=[
                    cpb.ReportedSymptom(code="chest_pain", severity=cpb.SYMPTOM_SEVERITY_SEVERE),
                    cpb.ReportedSymptom(code="shortness_of_breath"),
                ],
                age_years=58,
                sex=cpb.SEX_MALE,
            )
        )
    ).intake
    assert intake.triage.red_flags
    assert list(intake.offers) == []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await patient.consultation.StartCheckout(
            cpb.StartCheckoutRequest(
                idempotency_key=key(),
                intake_id=intake.id,
                type=cpb.CONSULTATION_TYPE_CHAT,
                method=GATEWAY,
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@UNCHARGEABLE
async def test_a_price_payment_could_not_charge_changes_no_offer(nobat, money, part):
    await prices(nobat)
    request = cpb.SetConsultationPricesRequest(
        idempotency_key=key(),
        prices=[cpb.ConsultationPrice(type=cpb.CONSULTATION_TYPE_CHAT, price=money)],
    )
    code, fields, _ = await refusal(nobat.admin().consultation.SetConsultationPrices(request))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [f"prices[0].price.{part}"])
    offers = (await coughing_intake(nobat.patient())).offers
    chat = next(offer for offer in offers if offer.type == cpb.CONSULTATION_TYPE_CHAT)
    assert chat.price == money_pb2.Money(amount_minor=2_000, currency="USD")


async def _holds(stack) -> bool:
    return await invariants.check(stack.database_urls, stack.nats_url) == []
