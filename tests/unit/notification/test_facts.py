"""Facts read from the other contexts' events, and the ids that make each one notification
per recipient and one delivery per channel, however often it arrives."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from nobat.payment.v1 import events_pb2 as payment
from nobat.payment.v1 import payment_service_pb2 as ppb

from runtime.consumer import Concerning
from runtime.events import PAYMENT
from services.notification.adapters import facts
from services.notification.adapters.facts import WALLET_TOP_UP
from services.notification.domain.contact import Channel, ContactChannel, Locale
from services.notification.domain.delivery import DeliveryStatus
from services.notification.domain.facts import Audience, Fact, Kind, Recipient
from services.notification.domain.notification import (
    DoctorListing,
    compose,
    delivery_id,
    notification_id,
)
from services.notification.entrypoints.events import event_handlers
from tests.unit.notification import events

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
PATIENT = Recipient("patient-1", Audience.PATIENT)
DOCTOR = Recipient("doctor-1", Audience.DOCTOR)


def test_ids_are_derived_from_the_fact_the_recipient_and_the_channel():
    first = notification_id("reservation_confirmed/r-1", PATIENT)
    assert first == notification_id("reservation_confirmed/r-1", PATIENT)
    others = {
        notification_id("reservation_confirmed/r-2", PATIENT),
        notification_id("reservation_confirmed/r-1", DOCTOR),
        notification_id("reservation_confirmed/r-1", Recipient("patient-1", Audience.DOCTOR)),
    }
    assert first not in others and len(others) == 3
    by_channel = {delivery_id(first, channel) for channel in Channel}
    assert len(by_channel) == len(Channel)
    assert delivery_id(first, Channel.SMS) == delivery_id(first, Channel.SMS)


def test_the_same_event_read_twice_is_the_same_fact():
    event = events.reservation_confirmed("patient-1", "doctor-1")
    assert facts.reservation_confirmed(event) == facts.reservation_confirmed(event)
    again = events.reservation_confirmed("patient-1", "doctor-1", event.reservation_id)
    assert facts.reservation_confirmed(again).key == facts.reservation_confirmed(event).key


def test_each_failed_attempt_of_a_payment_is_its_own_fact():
    first = events.payment_failed("patient-1")
    second = events.payment_failed("patient-1")
    second.payment_id = first.payment_id
    assert facts.payment_failed(first).key != facts.payment_failed(second).key


def test_a_reservation_is_told_to_its_patient_and_its_doctor():
    fact = facts.reservation_confirmed(events.reservation_confirmed("patient-1", "doctor-1"))
    assert fact.recipients == (PATIENT, DOCTOR)
    assert fact.doctor_id == "doctor-1"


def test_a_consultation_waiting_for_a_doctor_is_told_to_the_patient_alone():
    fact = facts.consultation_created(events.consultation_created("patient-1"))
    assert fact.recipients == (PATIENT,)
    assert "unassigned" in fact.details


def test_an_event_that_names_nobody_is_not_a_fact():
    with pytest.raises(ValueError):
        facts.payment_failed(events.payment_failed(""))


def test_a_notification_has_a_pending_delivery_per_enabled_channel():
    fact = facts.reservation_confirmed(events.reservation_confirmed("patient-1", "doctor-1"))
    notification = compose(
        fact,
        PATIENT,
        locale=Locale.EN,
        sequence=7,
        channels=(
            ContactChannel(Channel.EMAIL, "a@example.com"),
            ContactChannel(Channel.SMS, "+15551234567", enabled=False),
            ContactChannel(Channel.WEBHOOK, "https://example.com/hook"),
        ),
        doctor=DoctorListing("doctor-1", "Dr. Rostami", "Asia/Tehran", NOW),
        default_zone=ZoneInfo("UTC"),
        now=NOW,
    )
    assert notification.id == notification_id(fact.key, PATIENT)
    assert [(d.channel, d.status) for d in notification.deliveries] == [
        (Channel.EMAIL, DeliveryStatus.PENDING),
        (Channel.WEBHOOK, DeliveryStatus.PENDING),
    ]
    assert {d.id for d in notification.deliveries} == {
        delivery_id(notification.id, Channel.EMAIL),
        delivery_id(notification.id, Channel.WEBHOOK),
    }
    # The doctor's own zone, not the default: 09:30 in Tehran.
    assert "Dr. Rostami on Sunday 3 May 2026, 09:30" in notification.body


def test_an_unknown_doctor_is_your_doctor_in_the_default_zone():
    fact = Fact(Kind.CONSULTATION_COMPLETED, ("k",), "c-1", (PATIENT,), doctor_id="doctor-unknown")
    notification = compose(
        fact,
        PATIENT,
        locale=Locale.EN,
        sequence=1,
        channels=(),
        doctor=None,
        default_zone=ZoneInfo("UTC"),
        now=NOW,
    )
    assert notification.body == "Your consultation with your doctor is complete."


def _confirmed(kind: str) -> payment.PaymentConfirmed:
    return payment.PaymentConfirmed(
        payment_id=events.new_id(),
        purchase=ppb.Purchase(kind=kind, ref=events.new_id()),
        patient_id="patient-1",
        amount=events.money(20_000, "EUR"),
    )


def test_a_top_up_is_told_to_its_patient_and_other_confirmations_are_passed_over():
    top_up = _confirmed(WALLET_TOP_UP.name)
    fact = facts.wallet_topped_up(top_up)
    assert fact is not None and fact.kind is Kind.WALLET_TOPPED_UP
    assert fact.recipients == (PATIENT,)
    # Its purchasing context announces a booking's record; nothing is read from its payment.
    handler = event_handlers(None, PAYMENT)[payment.PaymentConfirmed]
    assert isinstance(handler, Concerning)
    assert handler.concerns(top_up)
    assert not handler.concerns(_confirmed("booking"))
    assert facts.wallet_topped_up(_confirmed("booking")) is None
