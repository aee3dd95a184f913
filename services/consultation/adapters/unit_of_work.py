"""Consultation's unit of work: one transaction, with consultation's repositories on it."""

from __future__ import annotations

from runtime.db import UnitOfWork
from runtime.purge import RUNTIME
from runtime.sql import Session
from services.consultation.adapters.messages import event_message
from services.consultation.adapters.repository import (
    AuditEntries,
    ChatMessages,
    Checkouts,
    ClinicalSessions,
    Consultations,
    Doctors,
    Intakes,
    PlatformPrices,
)
from services.consultation.adapters.tables import EXPIRED_CHECKOUTS, UNBOUGHT_INTAKES


class ConsultationUnitOfWork(UnitOfWork):
    # Checkouts before intakes: an intake goes only once no checkout names it.
    purges = (*RUNTIME, EXPIRED_CHECKOUTS, UNBOUGHT_INTAKES)
    event_message = event_message

    def repositories(self, session: Session) -> None:
        self.doctors = Doctors(session)
        self.prices = PlatformPrices(session)
        self.intakes = Intakes(session)
        self.checkouts = Checkouts(session)
        self.clinical_sessions = ClinicalSessions(session)
        self.consultations = Consultations(session)
        self.messages = ChatMessages(session)
        self.audit = AuditEntries(session)
