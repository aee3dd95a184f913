"""Consultation's repositories against a real PostgreSQL: every aggregate comes back as it
was saved, the jobs' queries find exactly what is due, pages come in order, and the
schema refuses what must never be stored however the handlers race (a second record
for one payment above all)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from purchasing.checkout import CheckoutStatus, PaymentMethod
from runtime.money import Money
from services.consultation.domain.assignment import Candidate
from services.consultation.domain.audit import AuditEntry, SubjectKind
from services.consultation.domain.caller import Caller, Role
from services.consultation.domain.chat import write_message
from services.consultation.domain.checkout import Checkout, open_checkout
from services.consultation.domain.consultation import (
    Consultation,
    ConsultationStatus,
    open_consultation,
)
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.events import RefundReason
from services.consultation.domain.intake import Intake
from services.consultation.domain.offers import ConsultationType, PriceList
from services.consultation.domain.queue import queue_order
from services.consultation.domain.session import ClinicalSessionStatus
from services.consultation.domain.shifts import END_OF_DAY, Shift, WeeklyShifts
from services.consultation.domain.triage import ReportedSymptom, Severity, Urgency
from tests.integration.conftest import reload, store
from tests.integration.consultation.conftest import Repositories, Transaction
from tests.unit.consultation.builders import (
    CANCELED_FOR_GOOD,
    CHAT,
    DECLINED,
    EMERGENCY,
    NEVER,
    NOW,
    PATIENT,
    PRICES,
    RULES,
    VIDEO,
    a_doctor,
    an_intake,
    attempt_opened,
    candidates,
    confirm,
    doctor_caller,
    symptoms,
)

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def started(
    name: str,
    *,
    patient_id: str = "patient-1",
    reported: Sequence[ReportedSymptom] | None = None,
    consultation_type: ConsultationType = CHAT,
    doctor: Doctor | None = None,
    method: PaymentMethod = PaymentMethod.GATEWAY,
    at: datetime = NOW,
) -> tuple[Intake, Checkout]:
    """intake-<name> and checkout-<name> from it, its first attempt open."""
    intake = an_intake(
        *([reported] if reported is not None else []),
        intake_id=f"intake-{name}",
        patient_id=patient_id,
        now=at,
    )
    checkout = open_checkout(
        checkout_id=f"checkout-{name}",
        intake=intake,
        patient_id=patient_id,
        consultation_type=consultation_type,
        doctor=doctor,
        method=method,
        now=at,
    )
    return intake, attempt_opened(checkout, at)


def paid(name: str, *, at: datetime = NOW, **start: Any) -> list:
    """[intake, checkout, session]: checkout-<name> paid at `at`, its session awaiting
    symptoms."""
    intake, checkout = started(name, at=at, **start)
    session = confirm(checkout, at=at, doctor=start.get("doctor"))
    assert session is not None
    return [intake, checkout, session]


def submitted(
    name: str,
    *,
    on_shift: Sequence[Doctor] = (),
    chosen: Doctor | None = None,
    reported: Sequence[ReportedSymptom] = (),
    at: datetime = NOW,
    **start: object,
) -> list:
    """[intake, checkout, session, consultation-<name>]: symptoms sent at `at`, so the
    consultation is assigned as the arguments make it."""
    intake, checkout, session = paid(name, at=at, doctor=chosen, **start)
    consultation = open_consultation(
        session,
        patient_id=session.patient_id,
        consultation_id=f"consultation-{name}",
        details="It hurts to swallow; 38.5 °C this morning.",
        symptoms=reported,
        intake=intake,
        triage=RULES,
        chosen_doctor=chosen,
        candidates=candidates(*on_shift),
        now=at,
    )
    return [intake, checkout, session, consultation]


async def test_unknown_ids_load_as_none(transaction: Transaction):
    async with transaction() as db:
        assert await db.doctors.get("nobody") is None
        assert await db.intakes.get("nothing") is None
        assert await db.checkouts.get("nothing") is None
        assert await db.clinical_sessions.get("nothing") is None
        assert await db.clinical_sessions.by_checkout("nothing") is None
        assert await db.consultations.get("nothing") is None
        assert await db.prices.get_all() == PriceList()
        assert await db.messages.last_sequence("nothing") == 0


async def test_a_doctor_comes_back_with_shifts_to_midnight_and_prices_and_saving_updates_it(
    transaction: Transaction,
):
    shifts = WeeklyShifts(
        (
            Shift(1, time(9, 0), time(12, 30)),
            Shift(1, time(22, 15), END_OF_DAY),
            Shift(7, time(0, 0), time(0, 45)),
        )
    )
    doctor = a_doctor(time_zone="Europe/London", shifts=shifts)
    await store(transaction, doctor)
    assert await reload(transaction, doctor) == [doctor]

    doctor.shifts = NEVER
    doctor.prices = PriceList({VIDEO: Money(1_200_000, "IRR"), CHAT: Money(7, "EUR")})
    assert doctor.directory_updated(time_zone="Asia/Tehran", active=False, updated_at=NOW)
    await store(transaction, doctor)

    assert await reload(transaction, doctor) == [doctor]


async def test_doctors_page_by_id_hiding_the_inactive_unless_asked(transaction: Transaction):
    doctors = [a_doctor(f"doctor-{n}") for n in "bdac"]
    doctors[3].active = False
    await store(transaction, *doctors)

    async def ids(**query) -> list[str]:
        query = {"include_inactive": False, "after": None, "limit": 10} | query
        async with transaction() as db:
            return [doctor.id for doctor in await db.doctors.page(**query)]

    assert await ids() == ["doctor-a", "doctor-b", "doctor-d"]
    assert await ids(include_inactive=True) == ["doctor-a", "doctor-b", "doctor-c", "doctor-d"]
    assert await ids(after="doctor-a", limit=1) == ["doctor-b"]
    async with transaction() as db:
        assert [doctor.id for doctor in await db.doctors.active()] == await ids()


async def test_platform_prices_are_replaced_as_a_whole(transaction: Transaction):
    async with transaction() as db:
        await db.prices.save(PRICES, NOW)
    async with transaction() as db:
        assert await db.prices.get_all() == PRICES
        await db.prices.save(PriceList({VIDEO: Money(950_000, "IRR")}), NOW + MINUTE)
    async with transaction() as db:
        assert await db.prices.get_all() == PriceList({VIDEO: Money(950_000, "IRR")})
        await db.prices.save(PriceList(), NOW + HOUR)
    async with transaction() as db:
        assert await db.prices.get_all() == PriceList()


async def test_an_intake_comes_back_with_its_whole_triage_and_its_offers(
    transaction: Transaction,
):
    routine = an_intake()
    detailed = an_intake(
        [
            ReportedSymptom("chest_pain", Severity.MODERATE, 2),
            ReportedSymptom("cough", None, 10),
        ],
        intake_id="intake-detailed",
        sex=None,
        age_years=0,
    )
    emergency = an_intake(symptoms("chest_pain", "shortness_of_breath"), intake_id="intake-red")
    intakes = [routine, detailed, emergency]
    await store(transaction, *intakes)

    assert await reload(transaction, *intakes) == intakes
    assert [offer.type for offer in detailed.offers] == [VIDEO, EMERGENCY]
    assert emergency.offers == () and emergency.triage.red_flags
    assert routine.triage.likely_conditions


async def test_a_checkout_comes_back_as_saved_in_every_state(transaction: Transaction):
    chosen = a_doctor()
    states = ("awaiting", "failed", "abandoned", "retried", "expired", "paid", "short", "left")
    made = {
        name: started(name, doctor=chosen if name == "left" else None, method=PaymentMethod.WALLET)
        for name in states
    }
    checkouts = {name: checkout for name, (_, checkout) in made.items()}
    checkouts["failed"].payment_failed(DECLINED, now=NOW + MINUTE)
    checkouts["abandoned"].payment_failed(CANCELED_FOR_GOOD, now=NOW + MINUTE)
    checkouts["retried"].payment_failed(DECLINED, now=NOW + MINUTE)
    checkouts["retried"].retry(NOW + 2 * MINUTE, PaymentMethod.GATEWAY)
    checkouts["expired"].expire(NOW + HOUR)
    confirm(checkouts["paid"])
    confirm(checkouts["short"], amount=Money(1, "IRR"))
    for late in ("payment-late-2", "payment-late-1"):
        confirm(checkouts["short"], payment_id=late)
    confirm(checkouts["left"], doctor=replace(chosen, active=False))
    intakes = [intake for intake, _ in made.values()]
    await store(transaction, chosen, *intakes, *checkouts.values())

    loaded = await reload(transaction, *checkouts.values())

    assert loaded == list(checkouts.values())
    assert [checkout.status for checkout in loaded] == [
        CheckoutStatus.AWAITING_PAYMENT,
        CheckoutStatus.PAYMENT_FAILED,
        CheckoutStatus.PAYMENT_FAILED,
        CheckoutStatus.AWAITING_PAYMENT,
        CheckoutStatus.EXPIRED,
        CheckoutStatus.CONFIRMED,
        CheckoutStatus.REFUNDED,
        CheckoutStatus.REFUNDED,
    ]
    assert (loaded[3].attempt, loaded[3].method) == (2, PaymentMethod.GATEWAY)
    assert loaded[5].clinical_session_id == "session-checkout-paid"
    assert loaded[6].refund_reason is RefundReason.AMOUNT_MISMATCH
    assert loaded[6].duplicate_payment_ids == ("payment-late-2", "payment-late-1")
    assert (loaded[7].doctor_id, loaded[7].refund_reason) == (
        chosen.id,
        RefundReason.DOCTOR_UNAVAILABLE,
    )
    assert checkouts["paid"].events and all(checkout.events == [] for checkout in loaded)


async def test_open_past_expiry_lists_the_open_checkouts_that_ran_out_longest_lapsed_first(
    transaction: Transaction,
):
    # Checkouts last thirty minutes from their start.
    made = {
        name: started(name, at=NOW + started_in)
        for name, started_in in (
            ("lapsed-late", 10 * MINUTE),
            ("lapsed-early", 0 * MINUTE),
            ("still-open", 30 * MINUTE),
            ("paid", 0 * MINUTE),
            ("expired", 0 * MINUTE),
        )
    }
    checkouts = {name: checkout for name, (_, checkout) in made.items()}
    checkouts["lapsed-early"].payment_failed(DECLINED, now=NOW + MINUTE)
    confirm(checkouts["paid"])
    checkouts["expired"].expire(NOW + MINUTE)
    await store(transaction, *(part for pair in made.values() for part in pair))

    async with transaction() as db:
        due = await db.checkouts.open_past_expiry(NOW + 45 * MINUTE, limit=10)
        first = await db.checkouts.open_past_expiry(NOW + 45 * MINUTE, limit=1)
        none_yet = await db.checkouts.open_past_expiry(NOW + 30 * MINUTE - SECOND, limit=10)

    assert due == ["checkout-lapsed-early", "checkout-lapsed-late"]
    assert first == ["checkout-lapsed-early"]
    assert none_yet == []


async def test_a_clinical_session_comes_back_awaiting_submitted_and_expired(
    transaction: Transaction,
):
    chosen = a_doctor()
    *awaiting_parents, awaiting = paid("awaiting", doctor=chosen)
    *submitted_parents, submitted_session, consultation = submitted("submitted", at=NOW - HOUR)
    *expired_parents, expired = paid("expired", at=NOW - 3 * DAY)
    assert expired.expire(NOW)
    await store(
        transaction,
        chosen,
        *awaiting_parents,
        awaiting,
        *submitted_parents,
        submitted_session,
        consultation,
        *expired_parents,
        expired,
    )
    sessions = [awaiting, submitted_session, expired]

    loaded = await reload(transaction, *sessions)

    assert loaded == sessions
    assert [session.status for session in loaded] == list(ClinicalSessionStatus)
    assert loaded[0].doctor_id == chosen.id
    assert loaded[1].consultation_id == consultation.id
    assert expired.events and all(session.events == [] for session in loaded)
    async with transaction() as db:
        assert (
            await db.clinical_sessions.by_checkout("checkout-expired", for_update=True) == expired
        )


async def test_awaiting_past_expiry_lists_sessions_still_without_symptoms_longest_lapsed_first(
    transaction: Transaction,
):
    # Sessions wait 72 hours for the symptoms.
    late = paid("late", at=NOW + HOUR)
    early = paid("early", at=NOW)
    done = submitted("done", at=NOW - HOUR)
    refunded = paid("refunded", at=NOW - HOUR)
    assert refunded[-1].expire(NOW + 72 * HOUR)
    await store(transaction, *late, *early, *done, *refunded)

    async with transaction() as db:
        due = await db.clinical_sessions.awaiting_past_expiry(NOW + 73 * HOUR, limit=10)
        first = await db.clinical_sessions.awaiting_past_expiry(NOW + 73 * HOUR, limit=1)
        none_yet = await db.clinical_sessions.awaiting_past_expiry(
            NOW + 72 * HOUR - SECOND, limit=10
        )

    assert due == ["session-checkout-early", "session-checkout-late"]
    assert first == ["session-checkout-early"]
    assert none_yet == []


async def test_a_consultation_comes_back_as_saved_in_every_state(transaction: Transaction):
    first, second = a_doctor("doctor-1"), a_doctor("doctor-2")
    reported = [ReportedSymptom("cough", Severity.SEVERE, 3), ReportedSymptom("fever")]
    states = ("queued", "queued-refunded", "review", "chatting", "completed", "handed-on")
    made = {
        name: submitted(name, on_shift=[] if name.startswith("queued") else [first])
        for name in (*states, "declined-by-all")
    }
    made["chosen"] = submitted("chosen", chosen=second, reported=reported)
    consultations = {name: parts[-1] for name, parts in made.items()}
    consultations["queued-refunded"].refund_if_untaken(NOW + DAY)
    for name in ("chatting", "completed"):
        consultations[name].accept(first.id, NOW + MINUTE)
    chatting = consultations["chatting"]
    for _ in range(2):
        write_message(chatting, PATIENT, message_id="unsaved", text="Still sore.", now=NOW)
    consultations["completed"].complete(first.id, "Rest, fluids, paracetamol.", NOW + HOUR)
    consultations["handed-on"].decline(
        first.id, "Off to theatre.", candidates=candidates(first, second), now=NOW + MINUTE
    )
    consultations["declined-by-all"].decline(
        first.id, "", candidates=candidates(first), now=NOW + MINUTE
    )
    await store(transaction, first, second, *(part for parts in made.values() for part in parts))

    loaded = await reload(transaction, *consultations.values())

    assert loaded == list(consultations.values())
    assert [consultation.status for consultation in loaded] == [
        ConsultationStatus.WAITING_FOR_DOCTOR,
        ConsultationStatus.REFUNDED,
        ConsultationStatus.DOCTOR_REVIEW_PENDING,
        ConsultationStatus.IN_PROGRESS,
        ConsultationStatus.COMPLETED,
        ConsultationStatus.DOCTOR_REVIEW_PENDING,
        ConsultationStatus.REFUNDED,
        ConsultationStatus.DOCTOR_REVIEW_PENDING,
    ]
    handed_on, chosen = loaded[5], loaded[7]
    assert (handed_on.doctor_id, handed_on.declined_by) == (second.id, {first.id})
    assert chatting.last_message_sequence == 2
    assert chosen.doctor_id == second.id and chosen.symptoms[0] == reported[0]
    assert all(consultation.events == [] for consultation in loaded)


async def test_consultations_page_newest_first_for_a_patient_a_doctor_or_a_status(
    transaction: Transaction,
):
    one, two = a_doctor("doctor-1"), a_doctor("doctor-2")
    made = {
        name: submitted(name, on_shift=on_shift, patient_id=patient_id, at=NOW + created_in)
        for name, on_shift, patient_id, created_in in (
            ("a", [one], "patient-1", 2 * HOUR),
            ("b", [two], "patient-2", 2 * HOUR),
            ("c", [one], "patient-2", 0 * HOUR),
            ("d", [two], "patient-1", 1 * HOUR),
            ("e", [], "patient-1", 3 * HOUR),
        )
    }
    await store(transaction, one, two, *(part for parts in made.values() for part in parts))

    async def names(limit: int = 10, **query) -> list[str]:
        query = {"patient_id": None, "doctor_id": None, "status": None, "after": None} | query
        async with transaction() as db:
            page = await db.consultations.page(limit=limit, **query)
        return [consultation.id.removeprefix("consultation-") for consultation in page]

    # "a" and "b" were created together: the id settles their order, and the cursor's.
    assert await names() == ["e", "b", "a", "d", "c"]
    assert await names(patient_id="patient-1") == ["e", "a", "d"]
    assert await names(doctor_id="doctor-2") == ["b", "d"]
    assert await names(status=ConsultationStatus.WAITING_FOR_DOCTOR) == ["e"]
    review = ConsultationStatus.DOCTOR_REVIEW_PENDING
    assert await names(patient_id="patient-2", status=review) == ["b", "c"]
    b = made["b"][-1]
    assert await names(limit=2, after=(b.created_at, b.id)) == ["a", "d"]


async def test_the_queue_comes_most_pressing_first_and_a_locking_job_skips_what_another_holds(
    transaction: Transaction,
):
    made = {
        name: submitted(name, at=NOW + created_in, **start)
        for name, created_in, start in (
            ("routine-later", 0 * MINUTE, {}),
            ("urgent", 1 * MINUTE, {"reported": symptoms("chest_pain")}),
            (
                "emergency-type",
                2 * MINUTE,
                {"reported": symptoms("chest_pain"), "consultation_type": EMERGENCY},
            ),
            ("routine-earlier", -1 * MINUTE, {}),
            ("assigned", -2 * MINUTE, {"on_shift": [a_doctor()]}),
        )
    }
    await store(transaction, a_doctor(), *(part for parts in made.values() for part in parts))
    queued = [parts[-1] for name, parts in made.items() if name != "assigned"]

    async def names(db: Repositories, limit: int = 10, *, for_update: bool = False) -> list[str]:
        page = await db.consultations.waiting(limit, for_update=for_update)
        return [consultation.id.removeprefix("consultation-") for consultation in page]

    order = ["emergency-type", "urgent", "routine-earlier", "routine-later"]
    assert [c.id for c in sorted(queued, key=queue_order)] == [f"consultation-{n}" for n in order]
    assert made["urgent"][-1].triage.urgency is Urgency.URGENT
    async with transaction() as db:
        assert await names(db) == order
        assert await names(db, 2) == order[:2]

    async with transaction() as holder, transaction() as job:
        await holder.consultations.get("consultation-emergency-type", for_update=True)
        assert await names(job, for_update=True) == order[1:]


async def test_untaken_past_deadline_lists_what_nobody_accepted_in_time_longest_overdue_first(
    transaction: Transaction,
):
    # A consultation may wait a day for a doctor to accept it.
    doctor = a_doctor()
    made = {
        name: submitted(name, on_shift=on_shift, at=NOW + created_in)
        for name, on_shift, created_in in (
            ("in-review", [doctor], HOUR),
            ("queued", [], 0 * HOUR),
            ("accepted", [doctor], 0 * HOUR),
            ("refunded", [], 0 * HOUR),
        )
    }
    made["accepted"][-1].accept(doctor.id, NOW + MINUTE)
    made["refunded"][-1].refund_if_untaken(NOW + DAY)
    await store(transaction, doctor, *(part for parts in made.values() for part in parts))

    async def due(now: datetime, limit: int = 10) -> list[str]:
        async with transaction() as db:
            return await db.consultations.untaken_past_deadline(now, limit)

    assert await due(NOW + DAY - SECOND) == []
    assert await due(NOW + DAY) == ["consultation-queued"]
    assert await due(NOW + DAY + HOUR) == ["consultation-queued", "consultation-in-review"]
    assert await due(NOW + DAY + HOUR, limit=1) == ["consultation-queued"]


async def test_candidates_are_the_active_doctors_on_shift_with_their_loads_and_last_turns(
    transaction: Transaction,
):
    busy, idle, off_shift, gone, fresh = (
        a_doctor("doctor-busy"),
        a_doctor("doctor-idle"),
        a_doctor("doctor-off", shifts=NEVER),
        a_doctor("doctor-gone", active=False),
        a_doctor("doctor-fresh"),
    )
    made = [
        submitted("review", on_shift=[busy], at=NOW),
        submitted("chatting", on_shift=[busy], at=NOW + MINUTE),
        submitted("done", on_shift=[busy], at=NOW + 2 * MINUTE),
        submitted("refunded", chosen=idle, at=NOW + 3 * MINUTE),
    ]
    for parts in made[1:3]:
        parts[-1].accept(busy.id, NOW + HOUR)
    made[2][-1].complete(busy.id, "Done.", NOW + HOUR)
    assert made[3][-1].refund_if_untaken(NOW + 2 * DAY)
    doctors = [busy, idle, off_shift, gone, fresh]
    await store(transaction, *doctors, *(part for parts in made for part in parts))

    async with transaction() as db:
        on_shift = await db.doctors.on_shift_candidates(NOW)
        active = await db.doctors.active()

    assert on_shift == [
        Candidate(busy, 2, NOW + 2 * MINUTE),
        Candidate(fresh, 0, None),
        Candidate(idle, 0, NOW + 3 * MINUTE),
    ]
    assert [doctor.id for doctor in active] == [
        "doctor-busy",
        "doctor-fresh",
        "doctor-idle",
        "doctor-off",
    ]


async def chatting(transaction: Transaction, name: str) -> Consultation:
    """A stored consultation its doctor has accepted, so its chat is open."""
    doctor = a_doctor()
    *parents, consultation = submitted(name, on_shift=[doctor])
    consultation.accept(doctor.id, NOW)
    await store(transaction, doctor, *parents, consultation)
    return consultation


async def test_chat_messages_come_back_in_sequence_after_what_a_client_has_seen(
    transaction: Transaction,
):
    consultation = await chatting(transaction, "1")
    speakers = [PATIENT, doctor_caller(), PATIENT]
    messages = [
        write_message(
            consultation, caller, message_id=f"message-{n}", text=f"#{n}", now=NOW + n * MINUTE
        )
        for n, caller in enumerate(speakers, start=1)
    ]
    async with transaction() as db:
        for message in messages:
            await db.messages.add(message)
        await db.consultations.save(consultation)

    async with transaction() as db:
        assert await db.messages.after(consultation.id, 0, limit=10) == messages
        assert await db.messages.after(consultation.id, 1, limit=1) == messages[1:2]
        assert await db.messages.after(consultation.id, 3, limit=10) == []
        assert await db.messages.last_sequence(consultation.id) == 3
        stored = await db.consultations.get(consultation.id)
    assert stored is not None and stored.last_message_sequence == 3


async def test_the_database_refuses_two_chat_messages_with_one_sequence(
    transaction: Transaction,
):
    consultation = await chatting(transaction, "1")
    message = write_message(consultation, PATIENT, message_id="message-1", text="Hi", now=NOW)
    async with transaction() as db:
        await db.messages.add(message)

    twin = replace(message, id="message-2", text="Hello")
    with pytest.raises(IntegrityError, match="chat_messages_one_per_sequence"):
        async with transaction() as db:
            await db.messages.add(twin)
    with pytest.raises(IntegrityError, match="chat_messages_pkey"):
        async with transaction() as db:
            await db.messages.add(replace(message, sequence=2))


async def test_the_database_refuses_a_second_clinical_session_for_one_payment_or_checkout(
    transaction: Transaction,
):
    intake, checkout, session = paid("1")
    other_intake, other_checkout = started("2")
    await store(transaction, intake, checkout, session, other_intake, other_checkout)

    twice_paid = replace(session, id="session-2", checkout_id=other_checkout.id)
    with pytest.raises(IntegrityError, match="clinical_sessions_payment_id_key"):
        await store(transaction, twice_paid)
    twice_opened = replace(session, id="session-3", payment_id="payment-other")
    with pytest.raises(IntegrityError, match="clinical_sessions_checkout_id_key"):
        await store(transaction, twice_opened)


async def test_the_database_refuses_a_second_consultation_for_one_clinical_session(
    transaction: Transaction,
):
    *parents, consultation = submitted("1")
    await store(transaction, *parents, consultation)

    again = replace(consultation, id="consultation-again")
    with pytest.raises(IntegrityError, match="consultations_clinical_session_id_key"):
        await store(transaction, again)


# Each statement writes a state the domain never reaches, named by the rule it breaks.
UNREACHABLE = {
    "UPDATE consultations SET status = 'completed', completed_at = created_at": (
        "consultations_accepted"
    ),
    "UPDATE consultations SET doctor_id = NULL": "consultations_assigned",
    "UPDATE consultations SET urgency = 4": "consultations_urgency",
    "UPDATE checkouts SET status = 'awaiting_payment'": "checkouts_confirmed",
    "UPDATE checkouts SET currency = 'irr'": "checkouts_currency_check",
    "UPDATE clinical_sessions SET consultation_id = NULL": "clinical_sessions_submitted",
    """UPDATE doctors SET prices = '{"chat": {"amount_minor": 0, "currency": "IRR"}}'""": (
        "doctors_prices_sound"
    ),
    """UPDATE doctors SET prices = '{"visit": {"amount_minor": 1, "currency": "IRR"}}'""": (
        "doctors_prices_sound"
    ),
    """UPDATE doctors SET shifts = '[{"day": 1, "start_minute": 60, "end_minute": 60}]'""": (
        "doctors_shifts_in_a_day"
    ),
    """UPDATE intakes SET offers = '[{"type": "chat", "amount_minor": 5, "currency": "R"}]'""": (
        "intakes_offers_sound"
    ),
}


async def test_the_schema_refuses_every_state_the_domain_cannot_reach(transaction: Transaction):
    doctor = a_doctor()
    *parents, consultation = submitted("1", on_shift=[doctor])
    await store(transaction, doctor, *parents, consultation)

    for statement, constraint in UNREACHABLE.items():
        with pytest.raises(IntegrityError, match=constraint):
            async with transaction() as db:
                await db.session.execute(text(statement))


def entry(n: int, *, actor: Caller = PATIENT, kind=SubjectKind.CONSULTATION, subject="c-1"):
    return AuditEntry.of(
        entry_id=f"entry-{n}",
        caller=actor,
        action="GetConsultation",
        subject_kind=kind,
        subject_id=subject,
        now=NOW + n * MINUTE,
    )


async def test_audit_entries_page_newest_first_by_subject_or_actor(transaction: Transaction):
    admin = Caller("admin-1", Role.ADMIN, "10.0.0.1", "nobat-cli")
    entries = [
        entry(1),
        entry(2, kind=SubjectKind.CLINICAL_SESSION, subject="s-1"),
        entry(3, actor=admin),
        entry(4, actor=doctor_caller(), subject="c-2"),
        entry(5, kind=SubjectKind.INTAKE, subject="i-1"),
        replace(entry(5), id="entry-5b"),
    ]
    async with transaction() as db:
        await db.audit.add(entries[0])
        await db.audit.add_all(entries[1:])
        await db.audit.add_all([])

    async def ids(limit: int = 10, **query) -> list[str]:
        async with transaction() as db:
            page = await db.audit.page(after=query.pop("after", None), limit=limit, **query)
        return [found.id.removeprefix("entry-") for found in page]

    assert await ids() == ["5b", "5", "4", "3", "2", "1"]
    assert await ids(subject_id="c-1") == ["5b", "3", "1"]
    assert await ids(subject_id="c-1", actor_id="admin-1") == ["3"]
    assert await ids(subject_kind=SubjectKind.CLINICAL_SESSION) == ["2"]
    assert await ids(actor_id="doctor-1") == ["4"]
    last = entries[-1]
    assert await ids(limit=2, after=(last.occurred_at, last.id)) == ["5", "4"]
    async with transaction() as db:
        [stored] = await db.audit.page(actor_id="admin-1", after=None, limit=1)
    assert stored == entries[2]
