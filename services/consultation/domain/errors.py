"""The consultation rules a caller can break, each named for the rule.

The kind each one subclasses (InvalidArgument, NotFound, FailedPrecondition) decides its
gRPC status in one place; the class name becomes the ErrorInfo reason and the keyword
arguments its metadata. Anything that is not the caller's is NotFound, never
PERMISSION_DENIED, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from runtime.errors import FailedPrecondition, InvalidArgument, NotFound


class UnknownSymptom(InvalidArgument):
    """A code the triage rule table does not know; one violation per unknown code."""

    def __init__(self, unknown: Iterable[tuple[int, str]], field: str = "symptoms") -> None:
        violations = [
            (f"{field}[{index}].code", f"{code!r} is not a symptom code of the triage table")
            for index, code in unknown
        ]
        super().__init__(*violations[0])
        self.violations = violations


class UnknownConsultationType(InvalidArgument):
    def __init__(self, value: str, field: str = "type") -> None:
        super().__init__(field, f"{value!r} is not a consultation type: chat, video or emergency")


class IntakeNotFound(NotFound):
    def __init__(self, intake_id: str) -> None:
        super().__init__(f"intake {intake_id} not found", intake_id=intake_id)


class IntakeExpired(FailedPrecondition):
    """Triage and prices go stale: a checkout starts from a recent intake only."""

    def __init__(self, intake_id: str, expired_at: datetime) -> None:
        super().__init__(
            f"intake {intake_id} expired at {expired_at.isoformat()}; start a new intake",
            intake_id=intake_id,
            expires_at=expired_at.isoformat(),
        )


class EmergencyCareAdvised(FailedPrecondition):
    """Triage found that only emergency care in person fits, so nothing is sold online."""

    def __init__(self, intake_id: str) -> None:
        super().__init__(
            f"intake {intake_id}: seek emergency care in person now; "
            "no online consultation is offered for it",
            intake_id=intake_id,
        )


class ConsultationTypeNotOffered(FailedPrecondition):
    def __init__(self, consultation_type: str, offered: Iterable[str]) -> None:
        offered = ", ".join(offered) or "none"
        super().__init__(
            f"a {consultation_type} consultation is not offered here; offered: {offered}",
            type=consultation_type,
            offered=offered,
        )


class DoctorNotFound(NotFound):
    def __init__(self, doctor_id: str) -> None:
        super().__init__(f"doctor {doctor_id} not found", doctor_id=doctor_id)


class DoctorNotAvailable(FailedPrecondition):
    """The chosen doctor takes no consultations now (deactivated in the directory)."""

    def __init__(self, doctor_id: str) -> None:
        super().__init__(f"doctor {doctor_id} takes no consultations", doctor_id=doctor_id)


class ClinicalSessionNotFound(NotFound):
    def __init__(self, clinical_session_id: str) -> None:
        super().__init__(
            f"clinical session {clinical_session_id} not found",
            clinical_session_id=clinical_session_id,
        )


class SymptomsAlreadySubmitted(FailedPrecondition):
    """A clinical session opens one consultation; a second submission changes nothing."""

    def __init__(self, clinical_session_id: str, consultation_id: str | None) -> None:
        super().__init__(
            f"clinical session {clinical_session_id} already has its consultation",
            clinical_session_id=clinical_session_id,
            consultation_id=consultation_id or "",
        )


class ClinicalSessionExpired(FailedPrecondition):
    """Symptoms came too late; the session is (or is about to be) refunded in full."""

    def __init__(self, clinical_session_id: str, expired_at: datetime) -> None:
        super().__init__(
            f"clinical session {clinical_session_id} expired at {expired_at.isoformat()}",
            clinical_session_id=clinical_session_id,
            expires_at=expired_at.isoformat(),
        )


class ConsultationNotFound(NotFound):
    def __init__(self, consultation_id: str) -> None:
        super().__init__(
            f"consultation {consultation_id} not found", consultation_id=consultation_id
        )


class ConsultationNotAwaitingReview(FailedPrecondition):
    """Accepting or declining is the assigned doctor's first answer, and only that."""

    def __init__(self, consultation_id: str, status: str) -> None:
        super().__init__(
            f"consultation {consultation_id} is {status}, not waiting for its doctor's answer",
            consultation_id=consultation_id,
            status=status,
        )


class ConsultationAlreadyTaken(FailedPrecondition):
    """A patient may withdraw a paid consultation only while no doctor has accepted it:
    after that the doctor is at work on it, and a refund is an admin's decision."""

    def __init__(self, consultation_id: str, status: str) -> None:
        super().__init__(
            f"consultation {consultation_id} is {status}: a doctor has it, or it is over",
            consultation_id=consultation_id,
            status=status,
        )


class ConsultationNotInProgress(FailedPrecondition):
    """Only an accepted consultation can be completed."""

    def __init__(self, consultation_id: str, status: str) -> None:
        super().__init__(
            f"consultation {consultation_id} is {status}; accept it before completing it",
            consultation_id=consultation_id,
            status=status,
        )


class ChatClosed(FailedPrecondition):
    """A completed or refunded consultation keeps its messages but takes no new ones."""

    def __init__(self, consultation_id: str, status: str) -> None:
        super().__init__(
            f"consultation {consultation_id} is {status}; its chat is closed",
            consultation_id=consultation_id,
            status=status,
        )
