"""The characters a request's text may hold (runtime.text), checked on the services'
own request messages: every string field, however deep, named by its path."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.notification.v1 import notification_service_pb2 as npb
from nobat.payment.v1 import payment_service_pb2 as ppb

from runtime.errors import InvalidArgument
from runtime.rpc import correlation_of
from runtime.text import check_text, multi_line
from services.booking.entrypoints.servicer import MULTI_LINE as BOOKING_LINES
from services.consultation.entrypoints.servicer import MULTI_LINE as CONSULTATION_LINES

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
RLI = "\u2067"  # RIGHT-TO-LEFT ISOLATE
RLM = "\u200f"  # RIGHT-TO-LEFT MARK
ZWNJ = "\u200c"  # ZERO WIDTH NON-JOINER, in every other Persian word


def refused(request, lines=frozenset()) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        check_text(request, lines)
    return caught.value.violations


def test_a_nul_anywhere_is_refused_naming_its_field():
    assert refused(bpb.GetDoctorRequest(doctor_id="doc\x00tor")) == [
        ("doctor_id", "must not contain control characters (found U+0000)")
    ]
    assert [f for f, _ in refused(ppb.GetPaymentRequest(payment_id="pay\x00x"))] == ["payment_id"]
    complaint = cpb.StartIntakeRequest(idempotency_key="k", complaint="cough\x00")
    assert [f for f, _ in refused(complaint, CONSULTATION_LINES)] == ["complaint"]


def test_nested_and_repeated_fields_are_named_by_their_path_all_in_one_answer():
    request = ppb.CreatePaymentRequest(
        purchase=ppb.Purchase(kind="booking", ref="ref\x1b[31m"),
        lines=[
            ppb.PayeeLine(payee_id="doctor-1", description="fee"),
            ppb.PayeeLine(payee_id="doctor-2", description="fee\x7f"),
        ],
    )
    assert [field for field, _ in refused(request)] == ["purchase.ref", "lines[1].description"]
    marked = npb.MarkReadRequest(notification_ids=["a", "b\x85"])
    assert [field for field, _ in refused(marked)] == ["notification_ids[1]"]


def test_map_keys_and_values_are_checked_too():
    request = struct_pb2.Struct()
    request.update({"amount": 5, "note\x00": "x", "idempotency_key": "k\x00"})
    assert sorted(field for field, _ in refused(request)) == [
        'fields["idempotency_key"].string_value',
        'fields["note\\u0000"]',
    ]


def test_a_line_break_is_refused_where_one_line_is_expected():
    for text in ("Dr. Sara\nAhmadi", "Dr.\tSara", "Dr. Sara\u2028Ahmadi", "Sara\r"):
        request = bpb.CreateDoctorRequest(display_name=text)
        [(field, description)] = refused(request, BOOKING_LINES)
        assert field == "display_name" and description.startswith("must be a single line")


def test_text_a_person_writes_may_span_lines_but_holds_no_other_control_character():
    message = cpb.PostMessageRequest(text="Hello doctor,\n\tI still cough.\r\nThanks\u2029")
    check_text(message, CONSULTATION_LINES)
    check_text(bpb.CancelReservationRequest(reason="Sick.\nSorry."), BOOKING_LINES)
    for bad in ("bell\x07", "nul\x00", "escape\x1b", "form feed\x0c", "next line\x85"):
        [(field, _)] = refused(cpb.PostMessageRequest(text=bad), CONSULTATION_LINES)
        assert field == "text"


def test_every_field_a_person_writes_in_sentences_is_declared_multi_line():
    assert {
        "nobat.consultation.v1.StartIntakeRequest.complaint",
        "nobat.consultation.v1.SubmitSymptomsRequest.details",
        "nobat.consultation.v1.DeclineConsultationRequest.reason",
        "nobat.consultation.v1.CompleteConsultationRequest.notes",
        "nobat.consultation.v1.PostMessageRequest.text",
    } == CONSULTATION_LINES
    assert {"nobat.booking.v1.CancelReservationRequest.reason"} == BOOKING_LINES


def test_bidi_overrides_embeddings_and_isolates_are_refused_in_names_and_chat():
    for control in ("\u202a", "\u202b", "\u202c", "\u202d", RLO, "\u2066", RLI, "\u2068", "\u2069"):
        name = bpb.CreateDoctorRequest(display_name=f"Dr. {control}imalhA")
        [(field, description)] = refused(name, BOOKING_LINES)
        assert field == "display_name" and "bidirectional" in description
        chat = cpb.PostMessageRequest(text=f"pay to {control}1234")
        assert [f for f, _ in refused(chat, CONSULTATION_LINES)] == ["text"]


def test_persian_text_with_its_marks_and_joiners_is_accepted():
    check_text(bpb.CreateDoctorRequest(display_name=f"دکتر سارا احمدی{RLM}", specialty="پوست"))
    check_text(
        cpb.PostMessageRequest(text=f"سلام دکتر، می{ZWNJ}خواهم بدانم (Dr. Clark) کی وقت دارید؟"),
        CONSULTATION_LINES,
    )


def test_a_field_declared_multi_line_must_exist():
    with pytest.raises(KeyError):
        multi_line(cpb.PostMessageRequest, "txt")


def test_a_correlation_id_sent_is_kept_only_when_it_looks_like_one():
    assert correlation_of("checkout-3f2c9a4e") == "checkout-3f2c9a4e"
    for sent in (None, "", "   ", "forged\nline", "x" * 200, "id\x00"):
        made = correlation_of(sent)
        assert len(made) == 32 and made != sent and made.isalnum()
