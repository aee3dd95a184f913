"""What each notification says, in Persian and English.

A template is a title and a body of sentences with named placeholders. A sentence whose
placeholder has no value is left out (no refund, no "Paid: …" line), so one template
covers a fact's variants without conditionals. Values are written the locale's way
(`localized`): Persian digits, grouped amounts with the currency's decimals, Solar Hijri
dates in the doctor's time zone; words that differ by language are `Phrase`s.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Literal, overload
from zoneinfo import ZoneInfo

from services.notification.domain.contact import Locale
from services.notification.domain.facts import Audience, Kind, Phrase, Value
from services.notification.domain.localized import (
    Amount,
    as_written,
    date_time,
    money,
    number,
    right_to_left,
)

EN, FA = Locale.EN, Locale.FA
PATIENT, DOCTOR = Audience.PATIENT, Audience.DOCTOR

Template = tuple[str, tuple[str, ...]]

TEMPLATES: Mapping[tuple[Kind, Audience], Mapping[Locale, Template]] = MappingProxyType(
    {
        (Kind.RESERVATION_CONFIRMED, PATIENT): {
            EN: (
                "Appointment booked",
                ("Your appointment with {doctor} on {when} is confirmed.", "Paid: {price}."),
            ),
            FA: (
                "نوبت شما ثبت شد",
                ("نوبت شما با {doctor} در {when} قطعی شد.", "مبلغ پرداخت‌شده: {price}."),
            ),
        },
        (Kind.RESERVATION_CONFIRMED, DOCTOR): {
            EN: ("New appointment", ("A patient booked your appointment on {when}.",)),
            FA: ("نوبت جدید", ("یک بیمار برای {when} نزد شما نوبت گرفت.",)),
        },
        (Kind.RESERVATION_CANCELLED, PATIENT): {
            EN: (
                "Appointment cancelled",
                (
                    "Your appointment with {doctor} on {when} was cancelled.",
                    "A refund of {refund} is on its way.",
                ),
            ),
            FA: (
                "نوبت لغو شد",
                (
                    "نوبت شما با {doctor} در {when} لغو شد.",
                    "مبلغ {refund} به شما بازگردانده می‌شود.",
                ),
            ),
        },
        (Kind.RESERVATION_CANCELLED, DOCTOR): {
            EN: (
                "Appointment cancelled",
                ("The appointment on {when} was cancelled; the time is free again.",),
            ),
            FA: ("نوبت لغو شد", ("نوبت {when} لغو شد و این زمان دوباره آزاد است.",)),
        },
        (Kind.CONSULTATION_CREATED, PATIENT): {
            EN: (
                "Consultation requested",
                (
                    "Your {type} consultation request has been received.",
                    "{doctor} will review it shortly.",
                    "{unassigned}",
                ),
            ),
            FA: (
                "درخواست مشاوره ثبت شد",
                (
                    "درخواست مشاوره {type} شما دریافت شد.",
                    "{doctor} به‌زودی آن را بررسی می‌کند.",
                    "{unassigned}",
                ),
            ),
        },
        (Kind.CONSULTATION_CREATED, DOCTOR): {
            EN: ("New consultation", ("A {type} consultation ({urgency}) is assigned to you.",)),
            FA: ("مشاوره جدید", ("یک مشاوره {type} با فوریت {urgency} به شما واگذار شد.",)),
        },
        (Kind.CONSULTATION_ASSIGNED, PATIENT): {
            EN: ("Doctor assigned", ("{doctor} has been assigned to your consultation.",)),
            FA: ("پزشک تعیین شد", ("{doctor} برای مشاوره شما تعیین شد.",)),
        },
        (Kind.CONSULTATION_ASSIGNED, DOCTOR): {
            EN: ("New consultation", ("A consultation is assigned to you.",)),
            FA: ("مشاوره جدید", ("یک مشاوره به شما واگذار شد.",)),
        },
        (Kind.CONSULTATION_ACCEPTED, PATIENT): {
            EN: ("Consultation accepted", ("{doctor} accepted your consultation.",)),
            FA: ("مشاوره پذیرفته شد", ("{doctor} مشاوره شما را پذیرفت.",)),
        },
        (Kind.CONSULTATION_DECLINED, PATIENT): {
            EN: (
                "Finding another doctor",
                (
                    "{doctor} could not take your consultation.",
                    "Another doctor will be assigned, or you will be refunded in full.",
                ),
            ),
            FA: (
                "در جستجوی پزشک دیگر",
                (
                    "{doctor} نتوانست مشاوره شما را بپذیرد.",
                    "پزشک دیگری تعیین می‌شود یا کل مبلغ به شما بازگردانده می‌شود.",
                ),
            ),
        },
        (Kind.CONSULTATION_COMPLETED, PATIENT): {
            EN: ("Consultation completed", ("Your consultation with {doctor} is complete.",)),
            FA: ("مشاوره به پایان رسید", ("مشاوره شما با {doctor} به پایان رسید.",)),
        },
        (Kind.PAYMENT_FAILED, PATIENT): {
            EN: (
                "Payment failed",
                ("Your payment did not go through: {reason}.", "{retry}"),
            ),
            FA: ("پرداخت ناموفق بود", ("پرداخت شما انجام نشد: {reason}.", "{retry}")),
        },
        (Kind.PAYMENT_REFUNDED, PATIENT): {
            EN: ("Refund issued", ("{amount} has been refunded to {destination}.", "{reason}")),
            FA: (
                "بازپرداخت انجام شد",
                ("مبلغ {amount} به {destination} بازگردانده شد.", "{reason}"),
            ),
        },
        # Paid, and the session waits: a patient who leaves the app before sending their
        # symptoms is told where they stand and by when, or the payment goes back.
        (Kind.SYMPTOMS_DUE, PATIENT): {
            EN: (
                "Payment received: describe your symptoms",
                (
                    "We received your payment for a {type} consultation.",
                    "Send your symptoms by {by}, or your payment is refunded in full.",
                ),
            ),
            FA: (
                "پرداخت دریافت شد: علائم خود را بنویسید",
                (
                    "پرداخت شما برای مشاوره {type} دریافت شد.",
                    "علائم خود را تا {by} بفرستید، وگرنه کل مبلغ به شما بازگردانده می‌شود.",
                ),
            ),
        },
        (Kind.WALLET_TOPPED_UP, PATIENT): {
            EN: ("Wallet topped up", ("{amount} was added to your nobat wallet.",)),
            FA: ("کیف پول شارژ شد", ("مبلغ {amount} به کیف پول نوبت شما اضافه شد.",)),
        },
        (Kind.PAYOUT_RELEASED, DOCTOR): {
            EN: ("Payout released", ("{net} (of {gross}) is now available for payout.",)),
            FA: ("تسویه آزاد شد", ("مبلغ {net} (از {gross}) اکنون قابل تسویه است.",)),
        },
    }
)

# Phrases by code. A reason code nobody wrote a phrase for falls back to its kind's
# "other" phrase, or is left out where a sentence of its own would say nothing.
PHRASES: Mapping[Locale, Mapping[str, str]] = MappingProxyType(
    {
        EN: {
            "your_doctor": "your doctor",
            "unassigned": "A doctor will be assigned as soon as one is on shift.",
            "type.chat": "chat",
            "type.video": "video",
            "type.emergency": "emergency",
            "type.other": "online",
            "urgency.routine": "routine",
            "urgency.soon": "soon",
            "urgency.urgent": "urgent",
            "urgency.emergency": "emergency",
            "urgency.other": "not stated",
            "failure.card_declined": "the card was declined",
            "failure.canceled": "the payment was cancelled",
            "failure.insufficient_funds": "there is not enough money in the wallet",
            "failure.expired": "the time to pay ran out",
            "failure.other": "the payment was not completed",
            "retry": "You can try again while your booking is held.",
            "destination.wallet": "your nobat wallet",
            "destination.original_method": "the way you paid",
            "refund.slot_taken": "The time you paid for was taken before your payment arrived.",
            "refund.reservation_cancelled": "Your appointment was cancelled.",
            "refund.symptoms_not_submitted": "No symptoms were sent in time.",
            "refund.no_doctor_accepted": "No doctor was available to take your consultation.",
            "refund.doctor_unavailable": "The doctor you chose is no longer available.",
            "refund.slot_withdrawn": "The time you paid for is no longer offered.",
            "refund.amount_mismatch": "The amount taken was not the price asked.",
            "refund.unknown_checkout": "Your payment arrived for a booking we could not find.",
            "refund.patient_cancelled": "You cancelled the consultation before a doctor took it.",
            "refund.fraud_warning": "Your bank flagged the payment; it was refunded and what it"
            " bought was cancelled.",
            "refund.purchase_voided": "The payment was refunded and what it bought was cancelled.",
        },
        FA: {
            "your_doctor": "پزشک شما",
            "unassigned": "به محض آغاز شیفت یک پزشک، مشاوره به او واگذار می‌شود.",
            "type.chat": "متنی",
            "type.video": "تصویری",
            "type.emergency": "اورژانسی",
            "type.other": "آنلاین",
            "urgency.routine": "عادی",
            "urgency.soon": "زود",
            "urgency.urgent": "فوری",
            "urgency.emergency": "اورژانسی",
            "urgency.other": "نامشخص",
            "failure.card_declined": "کارت پذیرفته نشد",
            "failure.canceled": "پرداخت لغو شد",
            "failure.insufficient_funds": "موجودی کیف پول کافی نیست",
            "failure.expired": "مهلت پرداخت به پایان رسید",
            "failure.other": "پرداخت کامل نشد",
            "retry": "تا زمانی که نوبت برای شما نگه داشته شده، می‌توانید دوباره پرداخت کنید.",
            "destination.wallet": "کیف پول نوبت شما",
            "destination.original_method": "روش پرداخت شما",
            "refund.slot_taken": "این زمان پیش از رسیدن پرداخت شما گرفته شده بود.",
            "refund.reservation_cancelled": "نوبت شما لغو شد.",
            "refund.symptoms_not_submitted": "علائم به‌موقع ارسال نشد.",
            "refund.no_doctor_accepted": "پزشکی برای پذیرش مشاوره شما در دسترس نبود.",
            "refund.doctor_unavailable": "پزشکی که انتخاب کردید دیگر در دسترس نیست.",
            "refund.slot_withdrawn": "زمانی که برای آن پرداخت کردید دیگر ارائه نمی‌شود.",
            "refund.amount_mismatch": "مبلغ دریافت‌شده با قیمت درخواستی یکسان نبود.",
            "refund.unknown_checkout": "پرداخت شما برای رزروی رسید که پیدا نشد.",
            "refund.patient_cancelled": "شما مشاوره را پیش از پذیرش پزشک لغو کردید.",
            "refund.fraud_warning": "بانک شما این پرداخت را مشکوک اعلام کرد؛ مبلغ بازگردانده و"
            " خرید لغو شد.",
            "refund.purchase_voided": "مبلغ پرداخت بازگردانده و خرید لغو شد.",
        },
    }
)


@overload
def phrase_code(family: str, code: str, *, fallback: Literal[True] = ...) -> Phrase: ...
@overload
def phrase_code(family: str, code: str, *, fallback: bool = ...) -> Phrase | None: ...
def phrase_code(family: str, code: str, *, fallback: bool = True) -> Phrase | None:
    """The phrase for `code` among `family`'s ("failure", "card_declined"): its own when
    one is written, else the family's "other" one, else None."""
    if f"{family}.{code}" in PHRASES[EN]:
        return Phrase(f"{family}.{code}")
    return Phrase(f"{family}.other") if fallback else None


def written(value: Value, locale: Locale, zone: ZoneInfo) -> str:
    """A placeholder's value in the locale's way of writing."""
    if isinstance(value, Amount):
        return money(value, locale)
    if isinstance(value, datetime):
        return date_time(value, zone, locale)
    if isinstance(value, Phrase):
        return PHRASES[locale][value.code]
    if isinstance(value, bool):
        raise TypeError("a yes or no is a Phrase in a notification, not a bool")
    if isinstance(value, int):
        return number(value, locale)
    return as_written(value, locale)


# Only ever the templates' own sentences, parsed once each rather than once per notification.
@functools.cache
def placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def render(
    kind: Kind,
    audience: Audience,
    locale: Locale,
    details: Mapping[str, Value | None],
    zone: ZoneInfo,
) -> tuple[str, str]:
    """The title and body of `kind` for a recipient in `audience`, in `locale`."""
    title, sentences = TEMPLATES[(kind, audience)][locale]
    values = {
        name: written(value, locale, zone) for name, value in details.items() if value is not None
    }
    kept = [
        sentence.format_map(values)
        for sentence in sentences
        if placeholders(sentence) <= values.keys()
    ]
    if locale is EN:
        kept = [sentence[:1].upper() + sentence[1:] for sentence in kept]
    body = " ".join(kept)
    if locale is FA:
        return right_to_left(title), right_to_left(body)
    return title, body
