"""How a paid consultation ends when it does not end in a completed chat: a session whose
symptoms never come, a consultation waiting for a shift, declines, deadlines nobody met,
callers it is not theirs, and bad input; and whose payout its money is on the way; over
all four services as processes, on short timings (3 s to send symptoms, 6 s for a doctor
to accept, jobs every 0.3 s).

Assignment considers every active doctor on shift in the stack, so each test starts with
nobody on shift: whatever a test puts on shift is taken off again after it (`nobat`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.type import timeofday_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.payment.v1 import events_pb2 as payment_events_pb2
from nobat.payment.v1 import payment_service_pb2 as ppb

from tests.e2e.flows import GATEWAY, Nobat, key, payment_of, refusal, running_stack, settled
from tests.e2e.test_booking_flows import FOREIGN_RETURN_URLS
from tests.e2e.test_consultation_flows import doctor_on_shift, paid_session, prices
from tests.instants import THURSDAY_NIGHT
from tests.processes import eventually

pytestmark = pytest.mark.e2e

T = TypeVar("T")

PRICE = 2_000  # a chat, as `prices` sets it
WAITING = cpb.CONSULTATION_STATUS_WAITING_FOR_DOCTOR
REVIEW = cpb.CONSULTATION_STATUS_DOCTOR_REVIEW_PENDING
IN_PROGRESS = cpb.CONSULTATION_STATUS_IN_PROGRESS
REFUNDED = cpb.CONSULTATION_STATUS_REFUNDED
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
# What a doctor's accept or decline gets once the consultation no longer waits for it.
ANSWERED = (grpc.StatusCode.FAILED_PRECONDITION, [], "CONSULTATION_NOT_AWAITING_REVIEW")


@pytest.fixture(scope="module")
def stack():
    with running_stack(
        THURSDAY_NIGHT,
        NOBAT_CONSULTATION_SESSION_SECONDS="3",
        NOBAT_CONSULTATION_ACCEPT_WITHIN_SECONDS="6",
        NOBAT_CONSULTATION_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_JOB_INTERVAL_SECONDS="0.3",
        NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS="1",
    ) as stack:
        yield stack


@contextlib.asynccontextmanager
async def consulting(stack) -> AsyncIterator[Nobat]:
    """nobat with the prices set, and nobody left on shift after a test."""
    nobat = Nobat(stack)
    await prices(nobat)
    yield nobat
    try:
        for doctor_id in await doctors_with_shifts(nobat):
            await set_shifts(nobat, doctor_id, [])
    finally:
        await nobat.close()


@pytest.fixture
async def nobat(stack):
    async with consulting(stack) as nobat:
        yield nobat


async def doctors_with_shifts(nobat: Nobat) -> list[str]:
    rows = await nobat.rows("consultation", "SELECT id FROM doctors WHERE shifts <> '[]'")
    return [doctor_id for (doctor_id,) in rows]


async def set_shifts(nobat: Nobat, doctor_id: str, shifts: list[cpb.Shift]) -> None:
    await nobat.admin().consultation.SetDoctorShifts(
        cpb.SetDoctorShiftsRequest(idempotency_key=key(), doctor_id=doctor_id, shifts=shifts)
    )


async def doctor_off_shift(nobat: Nobat) -> str:
    """A doctor in consultation's directory, without a shift: only a patient's choice
    gives them a consultation."""
    doctor_id = await doctor_on_shift(nobat)
    await set_shifts(nobat, doctor_id, [])
    return doctor_id


def shift(day: int, start_hour: int, end_hour: int) -> cpb.Shift:
    return cpb.Shift(
        day_of_week=day,
        start_time=timeofday_pb2.TimeOfDay(hours=start_hour),
        end_time=timeofday_pb2.TimeOfDay(hours=end_hour),
    )


async def until(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    """What `fetch` gives once `done` says so, polled for up to 20 seconds."""
    found: list[T] = []

    async def reached() -> bool:
        found[:] = [await fetch()]
        return done(found[0])

    await eventually(reached, 20, what)
    return found[0]


async def session_of(caller, session_id: str) -> cpb.ClinicalSession:
    request = cpb.GetClinicalSessionRequest(clinical_session_id=session_id)
    return (await caller.consultation.GetClinicalSession(request)).clinical_session


async def consultations_from(nobat: Nobat, session_id: str) -> int:
    sql = "SELECT count(*) FROM consultations WHERE clinical_session_id = :s"
    return (await nobat.rows("consultation", sql, s=session_id))[0][0]


async def consultation_of(caller, consultation_id: str) -> cpb.Consultation:
    request = cpb.GetConsultationRequest(consultation_id=consultation_id)
    return (await caller.consultation.GetConsultation(request)).consultation


async def submit(patient, session_id: str) -> cpb.Consultation:
    request = cpb.SubmitSymptomsRequest(
        idempotency_key=key(),
        clinical_session_id=session_id,
        details="Worse at night, no fever",
        symptoms=[cpb.ReportedSymptom(code="cough", days_since_onset=5)],
    )
    return (await patient.consultation.SubmitSymptoms(request)).consultation


async def consultation_for(nobat: Nobat, doctor_id: str | None = None):
    """A new patient's paid consultation, for `doctor_id` if they chose one."""
    patient = nobat.patient()
    checkout = await paid_session(nobat, patient, doctor_id)
    return patient, checkout, await submit(patient, checkout.clinical_session_id)


async def refund_requests(nobat: Nobat, payment_id: str) -> int:
    """How many times consultation asked payment to refund `payment_id`."""
    rows = await nobat.rows(
        "consultation",
        "SELECT payload FROM outbox WHERE event_type = :type",
        type=payment_events_pb2.RefundRequested.DESCRIPTOR.full_name,
    )
    asked = [payment_events_pb2.RefundRequested.FromString(payload) for (payload,) in rows]
    return sum(request.payment_id == payment_id for request in asked)


async def refunded_in_full_once(nobat: Nobat, payment_id: str, reason: str) -> None:
    payment = await until(
        lambda: payment_of(nobat, payment_id),
        lambda p: p.status == ppb.PAYMENT_STATUS_REFUNDED,
        f"payment {payment_id} refunded",
    )
    assert payment.amount.amount_minor == payment.refunded.amount_minor == PRICE
    assert [(r.amount.amount_minor, r.reason, r.status) for r in payment.refunds] == [
        (PRICE, reason, ppb.REFUND_STATUS_SUCCEEDED)
    ]
    assert await refund_requests(nobat, payment_id) == 1


async def test_a_session_without_symptoms_by_its_expiry_is_refunded_in_full(nobat, stack):
    patient = nobat.patient()
    checkout = await paid_session(nobat, patient)
    session_id = checkout.clinical_session_id

    expired = await until(
        partial(session_of, patient, session_id),
        lambda s: s.status == cpb.CLINICAL_SESSION_STATUS_EXPIRED,
        "the session expired",
    )
    assert not expired.consultation_id
    await refunded_in_full_once(nobat, checkout.payment_id, "symptoms_not_submitted")
    assert await refusal(submit(patient, session_id)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        [],
        "CLINICAL_SESSION_EXPIRED",
    )
    assert await consultations_from(nobat, session_id) == 0
    await settled(stack)


async def test_a_waiting_consultation_goes_to_the_doctor_whose_shift_starts(nobat, stack):
    assert await doctors_with_shifts(nobat) == []
    doctor_id = await doctor_off_shift(nobat)
    patient, _, consultation = await consultation_for(nobat)
    assert (consultation.status, consultation.doctor_id) == (WAITING, "")
    await asyncio.sleep(1)  # the queue runs a few times, with nobody to give it to
    assert (await consultation_of(patient, consultation.id)).status == WAITING

    request = cpb.ListDoctorShiftsRequest(doctor_id=doctor_id)
    zone = (await nobat.admin().consultation.ListDoctorShifts(request)).time_zone
    now = stack.now().astimezone(ZoneInfo(zone))  # a shift from this hour on their clock
    await set_shifts(
        nobat,
        doctor_id,
        [shift(now.isoweekday(), now.hour, 24), shift(now.isoweekday() % 7 + 1, 0, 24)],
    )
    assigned = await until(
        partial(consultation_of, patient, consultation.id),
        lambda c: c.status == REVIEW,
        "the consultation assigned once the shift started",
    )
    assert assigned.doctor_id == doctor_id
    accepted = await nobat.doctor(doctor_id).consultation.AcceptConsultation(
        cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
    )
    assert accepted.consultation.status == IN_PROGRESS
    await settled(stack)


async def decline(doctor, consultation_id: str) -> cpb.Consultation:
    request = cpb.DeclineConsultationRequest(
        idempotency_key=key(), consultation_id=consultation_id, reason="Outside my field"
    )
    return (await doctor.consultation.DeclineConsultation(request)).consultation


async def test_a_declined_consultation_goes_to_another_doctor_on_shift(nobat, stack):
    chosen = await doctor_off_shift(nobat)
    other = await doctor_on_shift(nobat)
    assert await doctors_with_shifts(nobat) == [other]
    _, checkout, consultation = await consultation_for(nobat, chosen)
    assert (consultation.status, consultation.doctor_id) == (REVIEW, chosen)

    handed_on = await decline(nobat.doctor(chosen), consultation.id)
    assert (handed_on.status, handed_on.doctor_id) == (REVIEW, other)
    # No longer the decliner's to see or answer.
    assert await refusal(consultation_of(nobat.doctor(chosen), consultation.id)) == (
        NOT_FOUND,
        [],
        "CONSULTATION_NOT_FOUND",
    )
    accepted = await nobat.doctor(other).consultation.AcceptConsultation(
        cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
    )
    assert accepted.consultation.status == IN_PROGRESS
    payment = await payment_of(nobat, checkout.payment_id)
    assert (payment.status, list(payment.refunds)) == (ppb.PAYMENT_STATUS_SUCCEEDED, [])
    await settled(stack)


async def test_a_declined_consultation_with_nobody_else_on_shift_is_refunded(nobat, stack):
    chosen = await doctor_off_shift(nobat)
    assert await doctors_with_shifts(nobat) == []
    patient, checkout, consultation = await consultation_for(nobat, chosen)
    assert (consultation.status, consultation.doctor_id) == (REVIEW, chosen)

    refunded = await decline(nobat.doctor(chosen), consultation.id)
    assert refunded.status == REFUNDED
    assert refunded.refund_reason == cpb.REFUND_REASON_NO_DOCTOR_ACCEPTED
    assert (await consultation_of(patient, consultation.id)).status == REFUNDED
    await refunded_in_full_once(nobat, checkout.payment_id, "no_doctor_accepted")
    # Declining again, under a new key, refunds nothing more.
    assert await refusal(decline(nobat.doctor(chosen), consultation.id)) == ANSWERED
    await refunded_in_full_once(nobat, checkout.payment_id, "no_doctor_accepted")
    await settled(stack)


async def test_consultations_nobody_accepts_by_their_deadline_are_refunded_once(nobat, stack):
    chosen = await doctor_off_shift(nobat)
    assert await doctors_with_shifts(nobat) == []
    # One waits for a shift that never starts; the other's chosen doctor never answers.
    made = await asyncio.gather(consultation_for(nobat), consultation_for(nobat, chosen))
    assert [c.status for _, _, c in made] == [WAITING, REVIEW]

    for patient, _, consultation in made:
        refunded = await until(
            partial(consultation_of, patient, consultation.id),
            lambda c: c.status == REFUNDED,
            f"consultation {consultation.id} refunded at its deadline",
        )
        assert refunded.refund_reason == cpb.REFUND_REASON_NO_DOCTOR_ACCEPTED
        assert not refunded.HasField("accepted_at")
    await asyncio.sleep(1)  # the refund job runs a few more times
    for _, checkout, _ in made:
        await refunded_in_full_once(nobat, checkout.payment_id, "no_doctor_accepted")
    late = cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=made[1][2].id)
    assert await refusal(nobat.doctor(chosen).consultation.AcceptConsultation(late)) == ANSWERED
    await settled(stack)


async def test_other_patients_and_doctors_find_no_consultation_not_theirs(nobat, stack):
    chosen = await doctor_off_shift(nobat)
    patient, _, consultation = await consultation_for(nobat, chosen)
    await nobat.doctor(chosen).consultation.AcceptConsultation(
        cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
    )
    await patient.consultation.PostMessage(
        cpb.PostMessageRequest(
            idempotency_key=key(), consultation_id=consultation.id, text="Hello doctor"
        )
    )
    hidden = (NOT_FOUND, [], "CONSULTATION_NOT_FOUND")
    for stranger in (nobat.patient(), nobat.doctor(await nobat.new_doctor(days=0))):
        assert await refusal(consultation_of(stranger, consultation.id)) == hidden
        posted = cpb.PostMessageRequest(
            idempotency_key=key(), consultation_id=consultation.id, text="Let me in"
        )
        assert await refusal(stranger.consultation.PostMessage(posted)) == hidden
        stream = stranger.consultation.stub.StreamMessages(
            cpb.StreamMessagesRequest(consultation_id=consultation.id),
            metadata=stranger.metadata,
            timeout=10,
        )
        assert await refusal(stream.read()) == hidden
    rows = await nobat.rows(
        "consultation",
        "SELECT sender_id, text FROM chat_messages WHERE consultation_id = :c",
        c=consultation.id,
    )
    assert [tuple(row) for row in rows] == [(patient.subject, "Hello doctor")]
    await settled(stack)


def intake(complaint: str = "A dry cough", codes=("cough",), age: int = 34):
    return cpb.StartIntakeRequest(
        idempotency_key=key(),
        complaint=complaint,
        symptoms=[cpb.ReportedSymptom(code=code) for code in codes],
        age_years=age,
    )


@pytest.mark.parametrize(
    "request_, fields",
    [
        (intake(complaint=""), ["complaint"]),
        (intake(complaint="   "), ["complaint"]),
        (intake(complaint="x" * 2001), ["complaint"]),
        (intake(codes=("cough", "nope", "neither")), ["symptoms[1].code", "symptoms[2].code"]),
        (intake(age=-1), ["age_years"]),
        (intake(age=131), ["age_years"]),
        (intake(complaint="", age=200), ["complaint", "age_years"]),
    ],
    ids=["empty", "blank", "oversized", "unknown-codes", "negative-age", "age-131", "both"],
)
async def test_a_bad_intake_is_refused_with_its_fields_and_stores_nothing(
    nobat, stack, request_, fields
):
    patient = nobat.patient()
    code, named, _ = await refusal(patient.consultation.StartIntake(request_))
    assert (code, named) == (INVALID, fields)
    count = "SELECT count(*) FROM intakes WHERE patient_id = :p"
    assert (await nobat.rows("consultation", count, p=patient.subject))[0][0] == 0
    await patient.consultation.StartIntake(intake())  # the same patient, asking well
    assert (await nobat.rows("consultation", count, p=patient.subject))[0][0] == 1
    await settled(stack)


async def test_bad_checkouts_and_symptoms_are_refused_and_store_nothing(nobat, stack):
    patient = nobat.patient()
    intake_id = (await patient.consultation.StartIntake(intake())).intake.id
    for kind in (cpb.CONSULTATION_TYPE_UNSPECIFIED, 99):
        request = cpb.StartCheckoutRequest(
            idempotency_key=key(), intake_id=intake_id, type=kind, method=GATEWAY
        )
        code, named, _ = await refusal(patient.consultation.StartCheckout(request))
        assert (code, named) == (INVALID, ["type"])
    for url in FOREIGN_RETURN_URLS:
        request = cpb.StartCheckoutRequest(
            idempotency_key=key(),
            intake_id=intake_id,
            type=cpb.CONSULTATION_TYPE_CHAT,
            method=GATEWAY,
            return_url=url,
        )
        code, named, _ = await refusal(patient.consultation.StartCheckout(request))
        assert (code, named) == (INVALID, ["return_url"]), url
    for service, table in (("consultation", "checkouts"), ("payment", "payments")):
        sql = f"SELECT count(*) FROM {table} WHERE patient_id = :p"
        assert (await nobat.rows(service, sql, p=patient.subject))[0][0] == 0

    # Left without symptoms, this session expires and is refunded after the test.
    session_id = (await paid_session(nobat, patient)).clinical_session_id
    bad = [
        ([cpb.ReportedSymptom(code="cough"), cpb.ReportedSymptom(code="nope")], "Coughing"),
        ([cpb.ReportedSymptom(code="cough", days_since_onset=-1)], "Coughing"),
        ([], ""),
        ([], "x" * 5001),
    ]
    fields = []
    for symptoms, details in bad:
        request = cpb.SubmitSymptomsRequest(
            idempotency_key=key(),
            clinical_session_id=session_id,
            details=details,
            symptoms=symptoms,
        )
        code, named, _ = await refusal(patient.consultation.SubmitSymptoms(request))
        assert code == INVALID
        fields += named
    assert fields == ["symptoms[1].code", "symptoms[0].days_since_onset", "details", "details"]
    assert await refusal(submit(nobat.patient(), session_id)) == (
        NOT_FOUND,
        [],
        "CLINICAL_SESSION_NOT_FOUND",
    )
    session = await session_of(patient, session_id)
    assert (session.status, session.consultation_id) == (
        cpb.CLINICAL_SESSION_STATUS_AWAITING_SYMPTOMS,
        "",
    )
    assert await consultations_from(nobat, session_id) == 0
    await settled(stack)


# A consultation's money follows the work: the doctor who takes it on is paid for it,
# whether the patient chose nobody, or the doctor they chose declined and another took
# it; the payouts as each doctor lists them, and the ledger as an admin reads it.

HELD, MOVED = ppb.PAYOUT_STATUS_HELD, ppb.PAYOUT_STATUS_MOVED


async def payouts_of(nobat: Nobat, doctor_id: str, payment_id: str) -> list[ppb.Payout]:
    """The doctor's payouts for one payment, as they list them themselves."""
    reply = await nobat.doctor(doctor_id).payment.ListPayouts(ppb.ListPayoutsRequest())
    return [payout for payout in reply.payouts if payout.payment_id == payment_id]


async def payouts_until(nobat, doctor_id, payment_id, statuses) -> list[ppb.Payout]:
    return await until(
        partial(payouts_of, nobat, doctor_id, payment_id),
        lambda payouts: [p.status for p in payouts] == statuses,
        f"{doctor_id}'s payouts for {payment_id} {statuses}",
    )


def split(payout: ppb.Payout) -> tuple[int, int, int, int]:
    parts = (payout.gross, payout.platform_fee, payout.gateway_fee, payout.net)
    return tuple(part.amount_minor for part in parts)


async def ledger_of(nobat: Nobat, payment_id: str) -> list[tuple[str, str, str, int]]:
    request = ppb.ListLedgerEntriesRequest(payment_id=payment_id, page_size=100)
    entries = (await nobat.admin().payment.ListLedgerEntries(request)).entries
    return [
        (
            entry.memo,
            ppb.LedgerAccountKind.Name(entry.account.kind).removeprefix("LEDGER_ACCOUNT_KIND_"),
            entry.account.owner_id,
            entry.amount.amount_minor,
        )
        for entry in entries
    ]


async def test_a_consultation_nobody_chose_a_doctor_for_pays_the_doctor_who_completes_it(
    nobat, stack
):
    doctor_id = await doctor_on_shift(nobat)
    _, checkout, consultation = await consultation_for(nobat)
    assert (consultation.status, consultation.doctor_id) == (REVIEW, doctor_id)
    doctor = nobat.doctor(doctor_id)
    await doctor.consultation.AcceptConsultation(
        cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
    )
    completed = await doctor.consultation.CompleteConsultation(
        cpb.CompleteConsultationRequest(
            idempotency_key=key(), consultation_id=consultation.id, notes="Rest, fluids"
        )
    )
    assert completed.consultation.status == cpb.CONSULTATION_STATUS_COMPLETED

    [payout] = await payouts_until(nobat, doctor_id, checkout.payment_id, [HELD])
    # 20.00 USD: 3% platform fee, the gateway's 2.9% + 0.30, the rest the doctor's.
    assert split(payout) == (PRICE, 60, 88, PRICE - 60 - 88)
    ledger = await ledger_of(nobat, checkout.payment_id)
    # The payment was made out to the platform (nobody chosen); the doctor's net came to
    # them by a transfer of its own, history untouched.
    assert ledger[-2:] == [
        ("payee_changed", "PLATFORM_REVENUE", "", payout.net.amount_minor),
        ("payee_changed", "DOCTOR_PAYABLE", doctor_id, -payout.net.amount_minor),
    ]
    await settled(stack)


async def test_a_declined_consultation_moves_its_payout_to_the_doctor_who_takes_it(nobat, stack):
    chosen = await doctor_off_shift(nobat)
    other = await doctor_on_shift(nobat)
    assert await doctors_with_shifts(nobat) == [other]
    _, checkout, consultation = await consultation_for(nobat, chosen)
    [earned] = await payouts_until(nobat, chosen, checkout.payment_id, [HELD])

    handed_on = await decline(nobat.doctor(chosen), consultation.id)
    assert (handed_on.status, handed_on.doctor_id) == (REVIEW, other)

    [taken] = await payouts_until(nobat, other, checkout.payment_id, [HELD])
    [moved] = await payouts_until(nobat, chosen, checkout.payment_id, [MOVED])
    assert split(taken) == split(moved) == split(earned)
    assert taken.release_at == earned.release_at and moved.HasField("moved_at")
    ledger = await ledger_of(nobat, checkout.payment_id)
    net = earned.net.amount_minor
    assert ledger[-2:] == [
        ("payee_changed", "DOCTOR_PAYABLE", chosen, net),
        ("payee_changed", "DOCTOR_PAYABLE", other, -net),
    ]
    accepted = await nobat.doctor(other).consultation.AcceptConsultation(
        cpb.AcceptConsultationRequest(idempotency_key=key(), consultation_id=consultation.id)
    )
    assert accepted.consultation.status == IN_PROGRESS
    await settled(stack)
