"""A consultation: the patient's detailed symptoms in front of a doctor.

    waiting_for_doctor     → doctor_review_pending   a doctor's shift starts (queue)
    doctor_review_pending  → in_progress             the doctor accepts
                           → doctor_review_pending   the doctor declines; another on shift takes it
                           → refunded                the doctor declines and nobody else is on shift
    in_progress            → completed               the doctor completes it, with notes
    waiting / review       → refunded                nobody accepted by accept_by
    waiting / review       → refunded                the patient cancels it

It exists only once a paid clinical session got its symptoms (`open_consultation`), so
every consultation is paid for, and every way out of it that is not a completion is a
full refund, requested once.

Its payment's revenue follows the doctor it is assigned to, who alone may accept it:
every change of doctor tells payment (PayeeAssigned), which moves the held payout. One
nobody has (queued, or refunded) is the platform's; a refund takes it back from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from purchasing.events import PayeeAssigned, Purchase
from runtime.errors import InvalidArgument
from runtime.instants import require_utc
from runtime.money import Money
from services.consultation.domain.assignment import Candidate, least_loaded
from services.consultation.domain.caller import Caller
from services.consultation.domain.doctor import Doctor
from services.consultation.domain.errors import (
    ConsultationAlreadyTaken,
    ConsultationNotAwaitingReview,
    ConsultationNotFound,
    ConsultationNotInProgress,
)
from services.consultation.domain.events import (
    PURCHASE_KIND,
    ConsultationAccepted,
    ConsultationAssigned,
    ConsultationCompleted,
    ConsultationCreated,
    ConsultationDeclined,
    RefundReason,
    full_refund,
)
from services.consultation.domain.intake import Intake, text_violations
from services.consultation.domain.offers import ConsultationType
from services.consultation.domain.session import ClinicalSession
from services.consultation.domain.triage import (
    ReportedSymptom,
    Triage,
    TriagePort,
    symptom_violations,
)

MAX_DETAILS_LENGTH = 5000
MAX_NOTES_LENGTH = 10_000
MAX_DECLINE_REASON_LENGTH = 1000
# How long a paid consultation may wait for a doctor to accept it before it is refunded.
DEFAULT_ACCEPT_WITHIN = timedelta(hours=24)


class ConsultationStatus(Enum):
    WAITING_FOR_DOCTOR = "waiting_for_doctor"
    DOCTOR_REVIEW_PENDING = "doctor_review_pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REFUNDED = "refunded"


# Paid for, and no doctor has taken it on yet.
UNTAKEN = frozenset(
    {ConsultationStatus.WAITING_FOR_DOCTOR, ConsultationStatus.DOCTOR_REVIEW_PENDING}
)
# Still going: counts towards a doctor's load, and its chat is open.
ONGOING = UNTAKEN | {ConsultationStatus.IN_PROGRESS}


@dataclass(frozen=True)
class Decline:
    doctor_id: str
    # Kept for the record; free text, so it never travels in an event.
    reason: str
    declined_at: datetime


@dataclass
class Consultation:
    id: str
    clinical_session_id: str
    checkout_id: str
    payment_id: str
    patient_id: str
    type: ConsultationType
    price: Money
    # The patient's own account, and every symptom reported at intake or since.
    details: str
    symptoms: tuple[ReportedSymptom, ...]
    # The detailed triage, run on submission.
    triage: Triage
    created_at: datetime
    # Fixed at creation, so a doctor's decline does not restart the patient's wait.
    accept_by: datetime
    status: ConsultationStatus = ConsultationStatus.WAITING_FOR_DOCTOR
    doctor_id: str | None = None
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    completed_at: datetime | None = None
    notes: str = ""
    declines: tuple[Decline, ...] = ()
    refund_reason: RefundReason | None = None
    # The chat's last sequence number; the row lock on the consultation keeps it gapless.
    last_message_sequence: int = 0
    # How many times payment was told who is paid for it (PayeeAssigned's numbering).
    payee_changes: int = 0
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_utc(self.created_at, "created_at")
        require_utc(self.accept_by, "accept_by")

    @property
    def declined_by(self) -> frozenset[str]:
        return frozenset(decline.doctor_id for decline in self.declines)

    def visible_to(self, caller: Caller) -> bool:
        """The patient, the doctor it is assigned to now, admins and services."""
        return (
            caller.is_patient(self.patient_id)
            or caller.is_doctor(self.doctor_id)
            or (caller.is_staff)
        )

    def ensure_visible_to(self, caller: Caller) -> None:
        if not self.visible_to(caller):
            raise ConsultationNotFound(self.id)

    def assign(self, doctor_id: str, now: datetime) -> None:
        """A doctor's shift started while this waited in the queue."""
        if self.status is not ConsultationStatus.WAITING_FOR_DOCTOR:
            raise ValueError(f"consultation {self.id} is {self.status.value}, not queued")
        self._assign(doctor_id, None, now)

    def _assign(self, doctor_id: str, previous: str | None, now: datetime) -> None:
        self.status = ConsultationStatus.DOCTOR_REVIEW_PENDING
        self.doctor_id = doctor_id
        self.assigned_at = now
        self.events.append(ConsultationAssigned(self.id, self.patient_id, doctor_id, previous, now))
        self.pay(doctor_id, now)

    def pay(self, doctor_id: str | None, now: datetime) -> None:
        """Tells payment who is paid for this consultation now (None: the platform)."""
        self.payee_changes += 1
        purchase = Purchase(PURCHASE_KIND, self.checkout_id)
        self.events.append(
            PayeeAssigned(self.payment_id, purchase, doctor_id, self.payee_changes, now)
        )

    def _ensure_assigned_to(self, doctor_id: str) -> None:
        # Another doctor's consultation, or one taken away after a decline, is not theirs.
        if self.doctor_id is None or doctor_id != self.doctor_id:
            raise ConsultationNotFound(self.id)

    def _ensure_awaiting_review(self, doctor_id: str) -> None:
        self._ensure_assigned_to(doctor_id)
        if self.status is not ConsultationStatus.DOCTOR_REVIEW_PENDING:
            raise ConsultationNotAwaitingReview(self.id, self.status.value)

    def accept(self, doctor_id: str, now: datetime) -> None:
        self._ensure_awaiting_review(doctor_id)
        self.status = ConsultationStatus.IN_PROGRESS
        self.accepted_at = now
        self.events.append(ConsultationAccepted(self.id, self.patient_id, doctor_id, now))

    def decline(
        self, doctor_id: str, reason: str, *, candidates: Sequence[Candidate], now: datetime
    ) -> None:
        """Hand it to the least-loaded other doctor on shift who has not declined it yet,
        or refund the patient in full when there is none."""
        self._ensure_awaiting_review(doctor_id)
        if len(reason) > MAX_DECLINE_REASON_LENGTH:
            raise InvalidArgument(
                "reason", f"must be at most {MAX_DECLINE_REASON_LENGTH} characters"
            )
        self.declines += (Decline(doctor_id, reason, now),)
        self.events.append(ConsultationDeclined(self.id, self.patient_id, doctor_id, now))
        nxt = least_loaded(candidates, now, excluding=self.declined_by)
        if nxt is not None:
            self._assign(nxt.doctor.id, doctor_id, now)
        else:
            self._refund(now, RefundReason.NO_DOCTOR_ACCEPTED)

    def complete(self, doctor_id: str, notes: str, now: datetime) -> None:
        self._ensure_assigned_to(doctor_id)
        if len(notes) > MAX_NOTES_LENGTH:
            raise InvalidArgument("notes", f"must be at most {MAX_NOTES_LENGTH} characters")
        if self.status is not ConsultationStatus.IN_PROGRESS:
            raise ConsultationNotInProgress(self.id, self.status.value)
        self.status = ConsultationStatus.COMPLETED
        self.notes = notes
        self.completed_at = now
        self.events.append(ConsultationCompleted(self.id, self.patient_id, doctor_id, now))

    def cancel(self, caller: Caller, now: datetime) -> None:
        """The patient withdraws it before any doctor accepted it: refunded in full, by the
        path every untaken consultation's refund takes (the held payout goes back to the
        platform first, and the refund takes it from there)."""
        if not caller.is_patient(self.patient_id):
            raise ConsultationNotFound(self.id)
        if self.status not in UNTAKEN:
            raise ConsultationAlreadyTaken(self.id, self.status.value)
        self._refund(now, RefundReason.PATIENT_CANCELLED)

    def refund_if_untaken(self, now: datetime) -> bool:
        """Refund a consultation nobody accepted by accept_by; True if refunded just now.
        The job that calls this may run any number of times: the refund happens once."""
        if self.status not in UNTAKEN or now < self.accept_by:
            return False
        self._refund(now, RefundReason.NO_DOCTOR_ACCEPTED)
        return True

    def voided(self) -> bool:
        """Payment took the money back on its own (PurchaseVoided): a consultation not yet
        held (untaken, or accepted and under way) ends as refunded, asking no refund, and
        the refund has already reversed its doctor's held payout. A completed one was held:
        it stays as it is, and False says so, for the handler to put on the record."""
        if self.status not in ONGOING:
            return self.status is ConsultationStatus.REFUNDED
        self.status = ConsultationStatus.REFUNDED
        self.refund_reason = RefundReason.PURCHASE_VOIDED
        return True

    def _refund(self, now: datetime, reason: RefundReason) -> None:
        if self.doctor_id is not None:
            # Nobody took it: the platform holds its money until the refund gives it back.
            self.pay(None, now)
        self.status = ConsultationStatus.REFUNDED
        self.refund_reason = reason
        self.events.append(
            full_refund(
                payment_id=self.payment_id,
                checkout_id=self.checkout_id,
                price=self.price,
                reason=reason,
                now=now,
            )
        )

    def next_message_sequence(self) -> int:
        self.last_message_sequence += 1
        return self.last_message_sequence


def open_consultation(
    session: ClinicalSession,
    *,
    patient_id: str,
    consultation_id: str,
    details: str,
    symptoms: Sequence[ReportedSymptom],
    intake: Intake,
    triage: TriagePort,
    chosen_doctor: Doctor | None,
    candidates: Sequence[Candidate],
    now: datetime,
    accept_within: timedelta = DEFAULT_ACCEPT_WITHIN,
) -> Consultation:
    """Create the session's one consultation from the patient's detailed symptoms.

    The detailed triage runs on every symptom reported, now or at intake (the newer report
    of a code wins), with the intake's age and sex. The consultation goes to the doctor
    chosen at checkout while they are active, else to the least-loaded doctor on shift
    (`candidates`), else it waits in the queue until a shift starts. A red flag found now
    does not undo the purchase: the doctor sees the urgency, and the patient the advice.
    """
    require_utc(now, "now")
    session.ensure_awaiting_symptoms(patient_id, now)
    if intake.id != session.intake_id:
        raise ValueError(f"clinical session {session.id} comes from intake {session.intake_id}")
    violations = text_violations(details, "details", MAX_DETAILS_LENGTH)
    violations += symptom_violations(symptoms)
    if violations:
        raise InvalidArgument.many(violations)
    # The new report first, so an unknown code is named by its index in this request.
    earlier = [
        symptom for symptom in intake.symptoms if symptom.code not in {s.code for s in symptoms}
    ]
    reported = (*symptoms, *earlier)
    assessed = triage.triage(reported, age_years=intake.age_years, sex=intake.sex)
    session.symptoms_submitted(patient_id, consultation_id, now)
    consultation = Consultation(
        id=consultation_id,
        clinical_session_id=session.id,
        checkout_id=session.checkout_id,
        payment_id=session.payment_id,
        patient_id=patient_id,
        type=session.type,
        price=session.price,
        details=details,
        symptoms=reported,
        triage=assessed,
        created_at=now,
        accept_by=now + accept_within,
    )
    doctor_id = _first_doctor(session, chosen_doctor, candidates, now)
    consultation.events.append(
        ConsultationCreated(
            consultation_id=consultation_id,
            clinical_session_id=session.id,
            patient_id=patient_id,
            doctor_id=doctor_id,
            type=session.type,
            urgency=assessed.urgency,
            created_at=now,
        )
    )
    if doctor_id is not None:
        consultation.status = ConsultationStatus.DOCTOR_REVIEW_PENDING
        consultation.doctor_id = doctor_id
        consultation.assigned_at = now
    if doctor_id != session.doctor_id:
        # The payment was made out to the doctor chosen at checkout, or to the platform.
        consultation.pay(doctor_id, now)
    return consultation


def _first_doctor(
    session: ClinicalSession,
    chosen: Doctor | None,
    candidates: Sequence[Candidate],
    now: datetime,
) -> str | None:
    if chosen is not None:
        if chosen.id != session.doctor_id:
            raise ValueError(f"clinical session {session.id} chose {session.doctor_id}")
        # The patient chose them, so they get it even off shift; a doctor who has left
        # since the payment is replaced rather than the patient refunded.
        if chosen.active:
            return chosen.id
    picked = least_loaded(candidates, now)
    return picked.doctor.id if picked is not None else None
