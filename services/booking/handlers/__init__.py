"""Booking on one screen: what its callers ask for, what it hears from payment, and what it
does on its own. The servicer, the consumer and bootstrap read these tables."""

from __future__ import annotations

from purchasing.commands import ExpireCheckout, RetryCheckout
from purchasing.news import PaymentConfirmed, PaymentExpired, PaymentFailed, PurchaseVoided
from runtime.handling import Handler
from services.booking.handlers.checkouts import (
    StartCheckout,
    expire_checkout,
    expire_lapsed_checkouts,
    payment_confirmed,
    payment_expired,
    payment_failed,
    purchase_voided,
    retry_checkout,
    start_checkout,
)
from services.booking.handlers.doctors import (
    CreateDoctor,
    SetWeeklyAvailability,
    UpdateDoctor,
    create_doctor,
    set_weekly_availability,
    update_doctor,
)
from services.booking.handlers.reservations import (
    CancelReservation,
    RescheduleReservation,
    cancel_reservation,
    reschedule_reservation,
)

COMMANDS: dict[type, Handler] = {
    CreateDoctor: create_doctor,
    UpdateDoctor: update_doctor,
    SetWeeklyAvailability: set_weekly_availability,
    StartCheckout: start_checkout,
    RetryCheckout: retry_checkout,
    ExpireCheckout: expire_checkout,
    CancelReservation: cancel_reservation,
    RescheduleReservation: reschedule_reservation,
}

# Payment's news about booking's checkouts (purchase kind "booking").
EVENTS: dict[type, Handler] = {
    PaymentConfirmed: payment_confirmed,
    PaymentFailed: payment_failed,
    PaymentExpired: payment_expired,
    PurchaseVoided: purchase_voided,
}

JOBS = {
    "expire-checkouts": expire_lapsed_checkouts,
}
