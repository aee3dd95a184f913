"""Every notification in both languages: Persian right to left with Persian digits,
English as it is, and sentences about values a fact lacks left out."""

# Persian digits and separators are the point of these strings, not look-alikes of Latin.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from purchasing.events import UNKNOWN_CHECKOUT
from services.booking.domain.checkout import RefundReason as BookingRefundReason
from services.consultation.domain.events import RefundReason as ConsultationRefundReason
from services.notification.domain.contact import Locale
from services.notification.domain.facts import Audience, Kind, Phrase
from services.notification.domain.localized import PDI, RLI, Amount
from services.notification.domain.templates import (
    PHRASES,
    TEMPLATES,
    phrase_code,
    placeholders,
    render,
)

ZONE = ZoneInfo("Asia/Tehran")
EVERY_VALUE = {
    "doctor": "Dr. Rostami",
    "when": datetime(2026, 5, 3, 6, 0, tzinfo=UTC),
    "price": Amount(5_000_000, "IRR"),
    "refund": Amount(2_500_000, "IRR"),
    "amount": Amount(1_250_050, "USD"),
    "net": Amount(9_410_000, "IRR"),
    "gross": Amount(10_000_000, "IRR"),
    "type": Phrase("type.video"),
    "urgency": Phrase("urgency.urgent"),
    "unassigned": Phrase("unassigned"),
    "reason": Phrase("failure.card_declined"),
    "retry": Phrase("retry"),
    "destination": Phrase("destination.wallet"),
}


def test_every_template_is_written_in_both_languages_with_the_same_placeholders():
    for key, by_locale in TEMPLATES.items():
        assert set(by_locale) == set(Locale), key
        en_title, en_body = by_locale[Locale.EN]
        fa_title, fa_body = by_locale[Locale.FA]
        assert [placeholders(s) for s in en_body] == [placeholders(s) for s in fa_body], key
        assert placeholders(en_title) == placeholders(fa_title) == set()


def test_every_kind_has_a_template_for_someone():
    assert {kind for kind, _ in TEMPLATES} == set(Kind)


def test_every_phrase_is_written_in_both_languages():
    assert PHRASES[Locale.EN].keys() == PHRASES[Locale.FA].keys()


@pytest.mark.parametrize("key", list(TEMPLATES), ids=lambda k: f"{k[0].value}-{k[1].value}")
def test_persian_renders_right_to_left_in_persian_digits(key):
    title, body = render(*key, Locale.FA, EVERY_VALUE, ZONE)
    for text in (title, body):
        assert text.startswith(RLI) and text.endswith(PDI)
        assert "{" not in text
    assert not re.search(r"[0-9]", body.replace("Dr. Rostami", ""))


@pytest.mark.parametrize("key", list(TEMPLATES), ids=lambda k: f"{k[0].value}-{k[1].value}")
def test_english_renders_without_direction_marks(key):
    title, body = render(*key, Locale.EN, EVERY_VALUE, ZONE)
    assert RLI not in title + body and "{" not in body
    assert not body[0].islower()


def test_a_reservation_confirmed_reads_naturally_in_both_languages():
    key = (Kind.RESERVATION_CONFIRMED, Audience.PATIENT)
    assert render(*key, Locale.EN, EVERY_VALUE, ZONE) == (
        "Appointment booked",
        "Your appointment with Dr. Rostami on Sunday 3 May 2026, 09:30 is confirmed."
        " Paid: 5,000,000 IRR.",
    )
    title, body = render(*key, Locale.FA, EVERY_VALUE, ZONE)
    assert title == f"{RLI}نوبت شما ثبت شد{PDI}"
    assert "یکشنبه ۱۳ اردیبهشت ۱۴۰۵، ساعت ۰۹:۳۰" in body
    assert "۵\u066c۰۰۰\u066c۰۰۰ ریال" in body


def test_a_sentence_about_a_missing_value_is_left_out():
    values = {k: v for k, v in EVERY_VALUE.items() if k != "refund"}
    _, body = render(Kind.RESERVATION_CANCELLED, Audience.PATIENT, Locale.EN, values, ZONE)
    assert body == "Your appointment with Dr. Rostami on Sunday 3 May 2026, 09:30 was cancelled."


def test_an_unknown_code_falls_back_to_its_familys_phrase_or_to_nothing():
    assert phrase_code("failure", "card_declined") == Phrase("failure.card_declined")
    assert phrase_code("failure", "do_not_honor") == Phrase("failure.other")
    assert phrase_code("refund", "mystery", fallback=False) is None


# Every reason a purchasing context gives for a full refund (PurchaseRejected and
# RefundRequested carry it as a machine code); each must read as a sentence to the patient.
REFUND_REASONS = sorted(
    {reason.value for reason in BookingRefundReason}
    | {reason.value for reason in ConsultationRefundReason}
    | {UNKNOWN_CHECKOUT}
)


@pytest.mark.parametrize("code", REFUND_REASONS)
def test_every_refund_reason_a_patient_can_be_given_has_its_phrase(code):
    assert phrase_code("refund", code, fallback=False) == Phrase(f"refund.{code}")
