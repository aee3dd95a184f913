"""Who is calling, as the verified token and the call's metadata say."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(Enum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    id: str
    role: Role
    # Kept for the audit log only: who read clinical data, from where, with what.
    client_address: str = ""
    user_agent: str = ""

    def is_patient(self, patient_id: str) -> bool:
        return self.role is Role.PATIENT and self.id == patient_id

    def is_doctor(self, doctor_id: str | None) -> bool:
        return self.role is Role.DOCTOR and doctor_id is not None and self.id == doctor_id

    @property
    def is_staff(self) -> bool:
        """Admins see every record (and every look is audited)."""
        return self.role is Role.ADMIN
