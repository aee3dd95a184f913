"""What every service's messages translate the same way: instants and list pages.

Instants are aware UTC datetimes inside nobat (see `runtime.instants`) and
google.protobuf.Timestamp on the wire. Lists take page_size (0 means 20, at most 100) and
an opaque page_token that only the service that gave it out reads: urlsafe base64 of a
JSON array of the cursor's parts, so a client can neither build nor edit one on purpose.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def timestamp(instant: datetime) -> Timestamp:
    """The wire form of an instant. A naive datetime is refused: which instant it means
    depends on the machine's zone, and the protobuf library would quietly take it as UTC."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"an instant must be an aware datetime, not {instant!r}")
    message = Timestamp()
    message.FromDatetime(instant)
    return message


def optional_timestamp(instant: datetime | None) -> Timestamp | None:
    """For a message's constructor, where None leaves the field unset: a thing that has not
    happened yet (confirmed_at of an open payment) has no time rather than 1970."""
    return None if instant is None else timestamp(instant)


def timestamp_or_none(message: Timestamp, field: str = "timestamp") -> datetime | None:
    """The aware UTC instant of a Timestamp, or None when it is unset. A field below its
    parent has no presence of its own, so the empty Timestamp (the epoch itself) reads as
    unset: no instant nobat deals in is 1 January 1970."""
    if message.ByteSize() == 0:
        return None
    try:
        return message.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidArgument(field, str(error)) from None


def page_size_of(value: int, field: str = "page_size") -> int:
    """The page size to use for a request's page_size. Too large is cut to the maximum
    rather than refused, so clients need not know it (AIP-158); negative is a mistake."""
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(*parts: str | int | float | bool | None) -> str:
    """The next_page_token for a page that ends at the cursor `parts` (such as the last
    row's created_at and id). Datetimes go in as isoformat() strings."""
    if not parts:
        raise ValueError('a page token needs a cursor; the last page has none (send "")')
    text = json.dumps(list(parts), separators=(",", ":"))
    # Padding is dropped so the token travels in a URL query without escaping.
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_page_token(token: str, field: str = "page_token") -> tuple[Any, ...]:
    """The cursor parts of a page_token; () for the empty token, which asks for the first
    page. Anything this codec did not write is INVALID_ARGUMENT on `field`."""
    if not token:
        return ()
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        parts = json.loads(raw.decode())
    except ValueError:
        # Covers bad base64 (binascii.Error), non-ASCII tokens, and bytes that are not
        # UTF-8 or not JSON: all of them a token this codec never wrote.
        parts = None
    if not isinstance(parts, list) or not parts:
        raise InvalidArgument(field, "is not a page token from this list; start again without")
    return tuple(parts)
