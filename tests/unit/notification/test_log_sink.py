"""The log sink, development's channel for everything: it says that a message went out,
never what the message says nor the whole address it went to."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notification.adapters.senders import LogSender
from services.notification.domain.contact import Channel, Locale
from services.notification.domain.delivery import Delivery
from services.notification.domain.facts import Kind
from services.notification.domain.notification import Notification

NOW = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)


async def test_the_log_sink_masks_the_message_and_the_address(caplog):
    notification = Notification(
        id="n-1",
        user_id="patient-1",
        sequence=1,
        kind=Kind.CONSULTATION_CREATED,
        locale=Locale.EN,
        title="Consultation booked",
        body="Your emergency chat consultation with Dr. Rostami is confirmed. Paid: 25.00 USD.",
        subject_id="c-1",
        created_at=NOW,
    )
    for channel, address in ((Channel.EMAIL, "sara@example.com"), (Channel.SMS, "+989121234567")):
        delivery = Delivery.create("d-1", notification.id, channel, address, NOW)
        with caplog.at_level("INFO"):
            await LogSender().send(delivery, notification)
    logged = caplog.text
    assert "n-1" in logged and "consultation_created" in logged
    assert "s***@example.com" in logged and "+989***67" in logged
    for private in ("Rostami", "emergency", "25.00", "Consultation booked", "sara@", "1234567"):
        assert private not in logged
