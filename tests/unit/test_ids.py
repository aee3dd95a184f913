"""Derived ids (runtime.ids): two different things never share one, whatever a caller puts
in a subject or a key, and the things made before keep theirs."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from runtime.ids import name_of
from services.booking.handlers.doctors import slot_id
from services.booking.handlers.unit_of_work import derived_id as booking_id
from services.consultation.handlers.unit_of_work import derived_id as consultation_id
from services.notification.domain.contact import Channel
from services.notification.domain.facts import Audience, Recipient
from services.notification.domain.notification import delivery_id, notification_id
from services.payment.domain.ids import derived_id as payment_child_id
from services.payment.domain.ids import payment_id_for, top_up_id

PAYMENT = "3f2c9a4e-8b1d-4c7a-9e2f-5d6b7a8c9d0e"
AT = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
PATIENT_1 = Recipient("patient-1", Audience.PATIENT)

# Parts made of the characters that matter, so that near misses are tried often.
parts = st.lists(st.text(alphabet="ab/%2F", max_size=4), min_size=1, max_size=4)


@given(parts, parts)
def test_different_parts_never_share_a_name(one, other):
    assert (name_of(*one) == name_of(*other)) == (one == other)


def test_a_subject_and_a_key_cannot_be_shifted_into_one_another():
    assert top_up_id("a", "b/c") != top_up_id("a/b", "c")
    assert booking_id("checkout", "a", "b/c") != booking_id("checkout", "a/b", "c")
    assert consultation_id("intake", "a", "b%2Fc") != consultation_id("intake", "a/b", "c")
    assigned_to = ("consultation_assigned", PAYMENT)
    assert notification_id((*assigned_to, "d/x"), Recipient("y", Audience.PATIENT)) != (
        notification_id((*assigned_to, "d"), Recipient("x/y", Audience.PATIENT))
    )


def test_what_was_made_before_keeps_its_id():
    """Ids derived by the plain "/" join before, for parts without "/" or "%": anything
    that derives them again from stored rows or re-published events must find them."""
    assert payment_id_for("booking", PAYMENT) == "9b0e57c2-cc24-5998-b13c-cb0eb95e3dea"
    assert top_up_id("patient-1", "seed-wallet-top-up") == "28ecff6d-5298-5833-bd7c-e8f389d512b0"
    assert payment_child_id(PAYMENT, "attempt", 2) == "2e0c4e3d-529f-5cb9-988a-b9afd3b8410f"
    assert (
        payment_child_id(PAYMENT, "refund", f"refund:{PAYMENT}")
        == "a9a04bc8-6db1-5510-ba83-92a73187ca3a"
    )
    assert (
        payment_child_id(PAYMENT, "wallet", "patient-1", "IRR")
        == "8297d4f2-8b55-5c06-95e1-b843a46e8e34"
    )
    assert booking_id("checkout", "patient-1", "key-1") == "49955b7b-e12f-58eb-a855-c86cf8e67710"
    assert booking_id("reservation", PAYMENT) == "e7f5f240-17b9-5c6c-be6e-8bf2c76d662f"
    assert consultation_id("intake", "patient-1", "key-1") == "22cfc6bb-6c58-57d3-87da-12ce72db09ee"
    assert consultation_id("clinical-session", PAYMENT) == "7bc7d00b-53c0-5783-982c-8f2815a1cea8"
    assert (
        notification_id(("consultation_assigned", PAYMENT, "doctor-1"), PATIENT_1)
        == "22d80f3e-5353-58d7-8161-04da6b58abf8"
    )
    assert delivery_id("n-1", Channel.EMAIL) == "602b97cd-359d-5cd2-912f-9d2aba285120"


def test_a_slot_keeps_its_id_whatever_its_doctors_id_holds():
    """A schedule redone derives its stored slots' ids again; the one free part of a slot's
    name is its doctor's id, so the plain join it always had cannot collide."""
    assert slot_id("doctor-1", AT) == "b730f9dc-d448-5e36-8989-92452a91d8f4"
    assert slot_id("dr/ahmadi", AT) == "35d4cd85-01a6-5e77-b7a9-475022864ad9"
    assert slot_id("dr", AT) != slot_id(f"dr/{AT.isoformat()}", AT)
