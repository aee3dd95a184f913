from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from nobat.booking.v1.booking_service_pb2 import ListDoctorsRequest, ListSlotsRequest

from runtime import wire
from runtime.errors import InvalidArgument
from runtime.instants import require_utc
from runtime.wire import (
    PageRequest,
    decode_page_token,
    encode_page_token,
    list_scope,
    optional_timestamp,
    page_size_of,
    sign_page_tokens_with,
    timestamp,
    timestamp_or_none,
)

T0 = datetime(2026, 5, 3, 10, 0, 0, 123456, tzinfo=UTC)


def test_an_instant_goes_on_the_wire_to_the_microsecond() -> None:
    assert timestamp(T0) == Timestamp(seconds=int(T0.timestamp()), nanos=123_456_000)


def test_an_instant_in_another_zone_is_the_same_instant_on_the_wire() -> None:
    tehran = T0.astimezone(timezone(timedelta(hours=3, minutes=30)))
    assert timestamp(tehran) == timestamp(T0)


def test_a_naive_datetime_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="aware"):
        timestamp(datetime(2026, 5, 3, 10, 0))


def test_an_instant_not_yet_happened_leaves_the_field_unset() -> None:
    assert optional_timestamp(None) is None
    assert optional_timestamp(T0) == timestamp(T0)


def test_a_timestamp_reads_back_as_an_aware_utc_instant() -> None:
    back = timestamp_or_none(timestamp(T0))
    assert back == T0
    assert back is not None and require_utc(back, "back") == T0


def test_an_unset_timestamp_reads_as_none() -> None:
    assert timestamp_or_none(Timestamp()) is None


def test_a_timestamp_out_of_range_is_invalid_on_its_field() -> None:
    with pytest.raises(InvalidArgument) as refused:
        timestamp_or_none(Timestamp(seconds=10**13), "expires_at")
    assert refused.value.violations[0][0] == "expires_at"


@pytest.mark.parametrize(
    ("asked", "given"), [(0, 20), (1, 1), (20, 20), (100, 100), (101, 100), (10**9, 100)]
)
def test_page_size_defaults_to_20_and_is_cut_to_100(asked: int, given: int) -> None:
    assert page_size_of(asked) == given


def test_a_negative_page_size_is_invalid() -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_size_of(-1)
    assert refused.value.violations[0][0] == "page_size"


@pytest.mark.parametrize(
    "parts",
    [
        ("2026-05-03T10:00:00+00:00", "payment-1"),
        (42,),
        ("ü/+?&=", None, True, -7),
    ],
)
def test_a_page_token_reads_back_as_its_parts(parts: tuple) -> None:
    assert decode_page_token(encode_page_token(*parts)) == parts


def test_a_page_token_needs_no_escaping_in_a_url() -> None:
    # Chosen so that plain base64 would hold "+", "/" and padding.
    token = encode_page_token("~~~?>>", "a")
    assert token.isascii()
    assert not set(token) & set("+/=")


def test_the_empty_token_asks_for_the_first_page() -> None:
    assert decode_page_token("") == ()


def test_a_token_needs_a_cursor() -> None:
    with pytest.raises(ValueError, match="cursor"):
        encode_page_token()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "not base64 at all",
        "é",
        _b64("not json"),
        _b64('{"a": 1}'),
        _b64("[]"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_token_this_codec_did_not_write_is_invalid_on_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        decode_page_token(token)
    assert refused.value.violations[0][0] == "page_token"


def test_a_bad_token_is_reported_on_the_field_it_came_in() -> None:
    with pytest.raises(InvalidArgument) as refused:
        decode_page_token("garbage!", "filter.page_token")
    assert refused.value.violations[0][0] == "filter.page_token"


def doctors_listed(**fields) -> ListDoctorsRequest:
    """A real List request: a token is signed for its list and its filters."""
    return ListDoctorsRequest(**fields)


def test_a_page_is_cut_from_one_row_more_and_says_where_the_next_begins():
    asked = PageRequest.of(doctors_listed(page_size=2), datetime, str)
    assert (asked.size, asked.limit, asked.after) == (2, 3, None)
    rows = [(datetime(2027, 1, d, tzinfo=UTC), f"row-{d}") for d in (1, 2, 3)]
    page, token = asked.cut(rows, lambda row: row)
    assert page == rows[:2]
    following = PageRequest.of(doctors_listed(page_size=2, page_token=token), datetime, str)
    assert following.after == (datetime(2027, 1, 2, tzinfo=UTC), "row-2")
    assert asked.cut(rows[:2], lambda row: row) == (rows[:2], "")


@pytest.mark.parametrize(
    "cursor",
    [
        ("e3e70682-c209-4cac-629f-6fbed82c07cd", "row-2"),  # no instant
        ("", "row-2"),
        ("2027-01-02T00:00:00", "row-2"),  # an instant in no zone
        ("0001-01-01T00:00:00+05:00", "row-2"),  # before the first UTC instant
        ("2027-01-02T00:00:00+00:00", "row\x00-2"),  # text PostgreSQL cannot hold
        ("2027-01-02T00:00:00+00:00", "row-\ud800"),  # a lone surrogate, as JSON allows
    ],
    ids=["id-for-instant", "empty", "naive", "before-utc-began", "nul", "surrogate"],
)
def test_a_signed_cursor_no_query_could_bind_is_refused_on_page_token(cursor):
    """Signed by this service, but not by this version of the list: a cursor whose parts
    a query could not use is refused like any token from elsewhere, never a failed query."""
    token = encode_page_token(*cursor, scope=list_scope(doctors_listed()))
    with pytest.raises(InvalidArgument) as refused:
        PageRequest.of(doctors_listed(page_token=token), datetime, str)
    assert refused.value.violations == [("page_token", "is not a page token from this list")]


def test_a_signed_sequence_beyond_bigint_is_refused_on_page_token():
    for sequence in (2**63, -(2**63) - 1):
        token = encode_page_token(sequence, scope=list_scope(doctors_listed()))
        with pytest.raises(InvalidArgument):
            PageRequest.of(doctors_listed(page_token=token), int)
    largest = encode_page_token(2**63 - 1, scope=list_scope(doctors_listed()))
    assert PageRequest.of(doctors_listed(page_token=largest), int).after_key == 2**63 - 1


def test_a_cursor_instant_in_another_zone_reads_as_the_same_utc_instant():
    token = encode_page_token(
        "2027-01-02T03:30:00+03:30", "row-2", scope=list_scope(doctors_listed())
    )
    after = PageRequest.of(doctors_listed(page_token=token), datetime, str).after
    assert after == (datetime(2027, 1, 2, tzinfo=UTC), "row-2")
    assert after[0].tzinfo is UTC


def test_a_token_whose_cursor_has_another_shape_is_refused_on_page_token():
    token = encode_page_token(41, scope=list_scope(doctors_listed()))
    with pytest.raises(InvalidArgument) as refused:
        PageRequest.of(doctors_listed(page_token=token), str, str)
    assert refused.value.violations[0][0] == "page_token"
    assert PageRequest.of(doctors_listed(page_token=token), int).after_key == 41


def test_a_token_is_good_only_for_the_filters_it_was_given_with():
    cardiology = doctors_listed(specialty="cardiology")
    token = encode_page_token("doctor-7", scope=list_scope(cardiology))
    assert PageRequest.of(doctors_listed(specialty="cardiology", page_token=token), str).after
    with pytest.raises(InvalidArgument):
        PageRequest.of(doctors_listed(specialty="dermatology", page_token=token), str)
    with pytest.raises(InvalidArgument):
        PageRequest.of(ListSlotsRequest(page_token=token), str)


def test_an_edited_or_forged_token_is_refused_on_page_token():
    scope = list_scope(doctors_listed())
    token = encode_page_token("doctor-7", scope=scope)
    payload, _, mac = token.partition(".")
    forged_payload = base64.urlsafe_b64encode(b'["doctor-8"]').decode().rstrip("=")
    for edited in (f"{forged_payload}.{mac}", payload, f"{payload}.", f"{payload}.{mac[:-2]}AA"):
        with pytest.raises(InvalidArgument) as refused:
            decode_page_token(edited, scope=scope)
        assert refused.value.violations[0][0] == "page_token"


def test_a_token_signed_with_another_secret_is_refused():
    scope = list_scope(doctors_listed())
    token = encode_page_token("doctor-7", scope=scope)
    ours = wire._page_secret
    sign_page_tokens_with(b"another deployment's secret, 32 bytes")
    try:
        with pytest.raises(InvalidArgument):
            decode_page_token(token, scope=scope)
    finally:
        sign_page_tokens_with(ours)
