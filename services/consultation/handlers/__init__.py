"""Consultation on one screen: what its callers ask for, what it hears from payment and
booking, and what it does on its own. The servicer, the consumers and bootstrap read these
tables."""

from __future__ import annotations

from purchasing.commands import ExpireCheckout, RetryCheckout
from purchasing.news import PaymentConfirmed, PaymentExpired, PaymentFailed, PurchaseVoided
from runtime.handling import Handler
from services.consultation.handlers.clinical import (
    AcceptConsultation,
    CancelConsultation,
    CompleteConsultation,
    DeclineConsultation,
    DoctorUpdated,
    ExpireSession,
    PostMessage,
    RefundUntakenConsultation,
    SetConsultationPrices,
    SetDoctorShifts,
    SubmitSymptoms,
    accept_consultation,
    cancel_consultation,
    complete_consultation,
    decline_consultation,
    doctor_updated,
    expire_session,
    post_message,
    refund_untaken_consultation,
    set_consultation_prices,
    set_doctor_shifts,
    submit_symptoms,
    tend_sessions_and_queue,
)
from services.consultation.handlers.purchases import (
    StartCheckout,
    StartIntake,
    expire_checkout,
    expire_lapsed_checkouts,
    payment_confirmed,
    payment_expired,
    payment_failed,
    purchase_voided,
    retry_checkout,
    start_checkout,
    start_intake,
)

COMMANDS: dict[type, Handler] = {
    # Phase one: what the patient buys.
    StartIntake: start_intake,
    StartCheckout: start_checkout,
    RetryCheckout: retry_checkout,
    ExpireCheckout: expire_checkout,
    # Phase two: the paid session, its consultation and chat.
    SubmitSymptoms: submit_symptoms,
    AcceptConsultation: accept_consultation,
    DeclineConsultation: decline_consultation,
    CompleteConsultation: complete_consultation,
    PostMessage: post_message,
    CancelConsultation: cancel_consultation,
    ExpireSession: expire_session,
    RefundUntakenConsultation: refund_untaken_consultation,
    # The clinic's settings.
    SetDoctorShifts: set_doctor_shifts,
    SetConsultationPrices: set_consultation_prices,
}

EVENTS: dict[type, Handler] = {
    # Payment's news about consultation's checkouts (purchase kind "consultation").
    PaymentConfirmed: payment_confirmed,
    PaymentFailed: payment_failed,
    PaymentExpired: payment_expired,
    PurchaseVoided: purchase_voided,
    # Booking's doctors' directory.
    DoctorUpdated: doctor_updated,
}

JOBS = {
    "expire-checkouts": expire_lapsed_checkouts,
    "sessions-and-queue": tend_sessions_and_queue,
}
