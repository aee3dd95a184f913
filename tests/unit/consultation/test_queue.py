"""No doctor on shift: the consultation waits, is assigned when a shift starts, and is
refunded if nobody takes it in time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from purchasing.events import PayeeAssigned, Purchase, RefundRequested
from services.consultation.domain.consultation import ConsultationStatus
from services.consultation.domain.events import ConsultationAssigned, RefundReason
from services.consultation.domain.queue import assign_waiting, next_assignment_at, queue_order
from services.consultation.domain.shifts import Shift, WeeklyShifts
from services.consultation.domain.triage import ReportedSymptom, Severity
from tests.unit.consultation.builders import (
    EMERGENCY,
    NEVER,
    NOW,
    a_consultation,
    a_doctor,
    candidates,
)

# NOW is Monday 11:30 in Tehran; this doctor works Mondays 14:00 to 18:00 there.
AFTERNOONS = WeeklyShifts((Shift(1, time(14), time(18)),))
SHIFT_START = datetime(2027, 3, 1, 10, 30, tzinfo=UTC)


def queued(name: str = "1", **overrides):
    consultation = a_consultation(consultation_id=f"consultation-{name}", **overrides)
    assert consultation.status is ConsultationStatus.WAITING_FOR_DOCTOR
    consultation.events.clear()
    return consultation


def test_a_queued_consultation_is_assigned_when_a_shift_starts():
    doctor = a_doctor(shifts=AFTERNOONS)
    consultation = queued(on_shift=[doctor])

    assert (
        assign_waiting([consultation], candidates(doctor), SHIFT_START - timedelta(seconds=1)) == []
    )
    assert next_assignment_at([doctor], NOW) == SHIFT_START

    assert assign_waiting([consultation], candidates(doctor), SHIFT_START) == [consultation]
    assert consultation.status is ConsultationStatus.DOCTOR_REVIEW_PENDING
    assert consultation.events == [
        ConsultationAssigned(consultation.id, "patient-1", "doctor-1", None, SHIFT_START),
        PayeeAssigned(
            consultation.payment_id,
            Purchase("consultation", consultation.checkout_id),
            "doctor-1",
            1,
            SHIFT_START,
        ),
    ]


def test_the_queue_spreads_over_doctors_by_load_most_pressing_first():
    waiting = [queued(str(n)) for n in range(1, 4)]
    pool = candidates(a_doctor("doctor-1"), a_doctor("doctor-2"), loads={"doctor-1": 1})

    assign_waiting(waiting, pool, NOW)

    assert [c.doctor_id for c in waiting] == ["doctor-2", "doctor-1", "doctor-2"]


def test_emergencies_then_higher_urgency_then_the_earliest_go_first():
    routine = queued("1")
    later = queued("2", at=NOW + timedelta(minutes=1))
    urgent = queued("3", reported=[ReportedSymptom("headache", Severity.SEVERE)])
    emergency = queued("4")
    emergency.type = EMERGENCY

    ordered = sorted([later, routine, urgent, emergency], key=queue_order)

    assert [c.id for c in ordered] == [emergency.id, urgent.id, routine.id, later.id]


def test_one_doctor_on_shift_takes_the_whole_queue_earliest_first():
    first, second = queued("1"), queued("2", at=NOW + timedelta(minutes=1))

    assigned = assign_waiting([second, first], candidates(a_doctor()), NOW + timedelta(minutes=2))

    assert [c.id for c in assigned] == [first.id, second.id]


def test_nobody_on_shift_assigns_nothing():
    consultation = queued()

    assert assign_waiting([consultation], candidates(a_doctor(shifts=NEVER)), NOW) == []
    assert next_assignment_at([a_doctor(shifts=NEVER)], NOW) is None
    assert next_assignment_at([a_doctor(shifts=AFTERNOONS, active=False)], NOW) is None


def test_a_consultation_nobody_takes_in_time_is_refunded_once_and_not_assigned_after():
    consultation = queued()
    deadline = NOW + timedelta(hours=24)

    assert consultation.refund_if_untaken(deadline - timedelta(seconds=1)) is False
    assert assign_waiting([consultation], candidates(a_doctor()), deadline) == []
    assert consultation.refund_if_untaken(deadline) is True
    assert consultation.refund_if_untaken(deadline) is False

    assert consultation.status is ConsultationStatus.REFUNDED
    assert [(e.reason, e.idempotency_key) for e in consultation.events] == [
        (RefundReason.NO_DOCTOR_ACCEPTED.value, "consultation-refund:payment-checkout-1")
    ]
    assert all(isinstance(e, RefundRequested) for e in consultation.events)
    assert assign_waiting([consultation], candidates(a_doctor()), deadline) == []


def test_an_assigned_consultation_its_doctor_never_accepts_is_refunded_too():
    consultation = a_consultation(on_shift=[a_doctor()])

    assert consultation.refund_if_untaken(NOW + timedelta(hours=24)) is True


def test_an_accepted_consultation_is_never_refunded_for_waiting():
    consultation = a_consultation(on_shift=[a_doctor()])
    consultation.accept("doctor-1", NOW)

    assert consultation.refund_if_untaken(NOW + timedelta(days=30)) is False
