"""What every service's messages translate the same way: instants, list pages, enums,
unset sub-messages and the field paths of bad input.

Instants are aware UTC datetimes inside nobat (see `runtime.instants`) and
google.protobuf.Timestamp on the wire. Lists take page_size (0 means 20, at most 100) and
an opaque page_token that only the service that gave it out reads: urlsafe base64 of a
JSON array of the cursor's parts, signed with the service's page-token secret for that
list and its filters, so a client can neither build nor edit one, nor carry one over to
another list or to other filters (AIP-158): any such token is INVALID_ARGUMENT.

Enums are paired by name (PaymentStatus.SUCCEEDED is PAYMENT_STATUS_SUCCEEDED), and every
pairing is checked when it is made, at import: a value added on one side only stops the
service at start rather than failing one call in production.

Wall-clock times are google.type.TimeOfDay on the wire and naive `time`s inside, where an
end at midnight is time(0) (a `time` cannot read 24:00). Ids a service gives out are UUIDs
in canonical text, so anything else is refused as INVALID_ARGUMENT before any lookup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, Self, TypeVar, cast

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.type import timeofday_pb2
from nobat.common.v1 import money_pb2

from runtime.errors import FieldRequired, InvalidArgument
from runtime.money import Money, parse_amount

if TYPE_CHECKING:
    # The stubs' generic wrapper, which each generated enum's metaclass specialises to
    # its own ValueType; it exists only in the stubs.
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# The end of a day inside nobat: what the domains call END_OF_DAY, 24:00 on the wire.
END_OF_DAY = time(0)
# What an id in an error message looks like.
EXAMPLE_ID = "3f2c9a4e-8b1d-4c7a-9e2f-5d6b7a8c9d0e"


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


# The key page tokens are signed with: the process's own until the service is given the
# one its replicas share (ServiceProcess, from NOBAT_PAGE_TOKEN_SECRET), so a unit test can
# page without configuring anything and a running service takes its replicas' tokens.
_page_secret = secrets.token_bytes(32)
# Bytes of HMAC-SHA256 a token carries: 128 bits, beyond any guessing.
_MAC_BYTES = 16


def sign_page_tokens_with(secret: bytes) -> None:
    global _page_secret
    if len(secret) < 16:
        raise ValueError("a page-token secret needs at least 16 bytes")
    _page_secret = secret


def _b64(raw: bytes) -> str:
    # Padding is dropped so the token travels in a URL query without escaping.
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _mac(scope: bytes, payload: bytes) -> bytes:
    signed = hmac.new(_page_secret, scope + b"\0" + payload, hashlib.sha256)
    return signed.digest()[:_MAC_BYTES]


def encode_page_token(*parts: str | int | float | bool | None, scope: bytes = b"") -> str:
    """The next_page_token for a page that ends at the cursor `parts` (such as the last
    row's created_at and id), good only for the list and filters `scope` names.
    Datetimes go in as isoformat() strings."""
    if not parts:
        raise ValueError('a page token needs a cursor; the last page has none (send "")')
    payload = json.dumps(list(parts), separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(scope, payload))}"


def decode_page_token(
    token: str, field: str = "page_token", *, scope: bytes = b""
) -> tuple[Any, ...]:
    """The cursor parts of a page_token; () for the empty token, which asks for the first
    page. Anything this service did not sign for `scope` is INVALID_ARGUMENT on `field`."""
    if not token:
        return ()
    parts = None
    payload_text, _, mac_text = token.partition(".")
    try:
        payload, mac = _unb64(payload_text), _unb64(mac_text)
        if hmac.compare_digest(mac, _mac(scope, payload)):
            parts = json.loads(payload.decode())
    except ValueError:
        # Covers bad base64 (binascii.Error) and non-ASCII tokens: never one we wrote.
        parts = None
    if not isinstance(parts, list) or not parts:
        raise InvalidArgument(field, "is not a page token from this list; start again without")
    return tuple(parts)


class ListRequest(Protocol):
    """A List request (AIP-158): whichever message it is, it has these two fields, and
    list_scope uses these few things every message has."""

    page_size: int
    page_token: str

    @property
    def DESCRIPTOR(self) -> Descriptor: ...

    def CopyFrom(self, other_msg: Self) -> None: ...

    def ClearField(self, field_name: Literal["page_size", "page_token"]) -> None: ...

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...


def list_scope(request: ListRequest) -> bytes:
    """What a List request's page token is good for: this list, with these filters (the
    request as sent, but for its page size and token)."""
    filters = type(request)()
    filters.CopyFrom(request)
    filters.ClearField("page_size")
    filters.ClearField("page_token")
    name = request.DESCRIPTOR.full_name.encode()
    return name + b"\0" + filters.SerializeToString(deterministic=True)


# The widest integer a cursor's query can bind: PostgreSQL's bigint.
_BIGINT = range(-(2**63), 2**63)
_MISFIT = object()


def _cursor_part(part: object, kind: type) -> Any:
    """A signed cursor's `part` as the `kind` its list's query binds, or _MISFIT. The
    signature says this service wrote the token, not that this version of the list did
    (a rollout may change a cursor), so what its parts hold is checked as well: text a
    query could not bind (NUL, a lone surrogate), an instant that is not one, a number
    beyond bigint would each fail the query instead of refusing the token."""
    if kind is datetime:
        try:
            instant = datetime.fromisoformat(part)  # type: ignore[arg-type]
            return instant.astimezone(UTC) if instant.utcoffset() is not None else _MISFIT
        except (TypeError, ValueError, OverflowError):
            return _MISFIT
    if type(part) is not kind:
        return _MISFIT
    if kind is int and part not in _BIGINT:
        return _MISFIT
    if kind is str and not _bindable(part):  # type: ignore[arg-type]
        return _MISFIT
    return part


def _bindable(text: str) -> bool:
    """Whether PostgreSQL can take `text` as a parameter: UTF-8 without NUL."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@dataclass(frozen=True)
class PageRequest:
    """What a List request asks for: a page of `size` after the cursor of its page_token
    (None for the first page). One row more than the page is read (`limit`), so `cut`
    can tell whether another page follows without counting."""

    size: int
    after: tuple[Any, ...] | None
    # The list and filters its tokens are good for (list_scope).
    scope: bytes = b""

    @classmethod
    def of(cls, request: ListRequest, *shape: type) -> PageRequest:
        """The request's page_size and page_token; a token not signed for this list and
        these filters, or whose cursor is not of `shape` (the kinds of its parts, as this
        list's `cut` writes them: str, int, or datetime for an instant, which `after`
        holds as an aware UTC datetime), is INVALID_ARGUMENT."""
        size = page_size_of(request.page_size)
        scope = list_scope(request)
        if not request.page_token:
            return cls(size, None, scope)
        parts = decode_page_token(request.page_token, scope=scope)
        read = (
            tuple(_cursor_part(part, kind) for part, kind in zip(parts, shape, strict=True))
            if len(parts) == len(shape)
            else None
        )
        if read is None or _MISFIT in read:
            raise InvalidArgument("page_token", "is not a page token from this list")
        return cls(size, read, scope)

    @property
    def limit(self) -> int:
        return self.size + 1

    @property
    def after_key(self) -> Any:
        """The cursor of a list ordered by one key alone (an id, a sequence), or None."""
        return self.after[0] if self.after else None

    def cut(
        self, found: Sequence[T], cursor: Callable[[T], tuple[Any, ...]]
    ) -> tuple[list[T], str]:
        """The page of `found` (read with `limit`), and the token for the next one: the
        cursor of its last row (datetimes as isoformat()), or "" at the end."""
        page = list(found[: self.size])
        if len(found) <= self.size:
            return page, ""
        parts = [p.isoformat() if isinstance(p, datetime) else p for p in cursor(page[-1])]
        return page, encode_page_token(*parts, scope=self.scope)


# Presence, enums and field paths.

E = TypeVar("E", bound=Enum)
# A proto enum's value type (its generated ValueType, an int).
V = TypeVar("V", bound=int)
T = TypeVar("T")
M = TypeVar("M")
Violations = list[tuple[str, str]]


def is_unset(message: Message) -> bool:
    """A message field below its parent has no presence of its own, so an empty one (what
    proto3 and JSON clients send for "nothing") counts as not given."""
    return message.ByteSize() == 0


def field_required(field: str) -> FieldRequired:
    """The error for a field left unset that has no meaning unset."""
    return FieldRequired(field)


@dataclass(frozen=True)
class EnumPair(Generic[E, V]):
    """A domain enum and its proto enum, both ways. Proto value 0 (UNSPECIFIED) has no
    member: it means "not given", and each field says what that stands for."""

    to_proto: Mapping[E, V]
    from_proto: Mapping[int, E]
    # The error for UNSPECIFIED where a value is required; a service may name it its own way.
    missing: Callable[[str], InvalidArgument]

    def proto_of(self, member: E | None) -> V:
        """`member`'s proto value; None is UNSPECIFIED, which every proto enum has as 0."""
        return cast(V, 0) if member is None else self.to_proto[member]

    def optional(self, value: int, field: str) -> E | None:
        if value == 0:
            return None
        try:
            return self.from_proto[value]
        except KeyError:
            # Proto enums are open: a newer client may send a number this build never saw.
            raise InvalidArgument(field, f"{value} is not a value this service knows") from None

    def required(self, value: int, field: str) -> E:
        member = self.optional(value, field)
        if member is None:
            raise self.missing(field)
        return member


def enum_pair(
    domain: type[E],
    proto: _EnumTypeWrapper[V],
    prefix: str,
    missing: Callable[[str], InvalidArgument] = field_required,
) -> EnumPair[E, V]:
    """Pair `domain` with `proto` by name, `prefix` + member name; raises unless both hold
    the same set of values (UNSPECIFIED aside)."""
    # Value() raises for a domain member the proto lacks; the check below catches the
    # reverse, so both sides always hold the same set.
    to_proto = {member: proto.Value(prefix + member.name) for member in domain}
    unpaired = set(proto.values()) - set(to_proto.values()) - {0}
    if unpaired:
        names = sorted(proto.Name(value) for value in unpaired)
        raise RuntimeError(f"{domain.__name__} has no member for {names}")
    from_proto: dict[int, E] = {value: member for member, value in to_proto.items()}
    return EnumPair(MappingProxyType(to_proto), MappingProxyType(from_proto), missing)


@contextmanager
def rooted(domain_root: str, field: str) -> Iterator[None]:
    """Domain rules name a value's parts under the domain's own root ("purchase.kind"), or
    bare ("currency") when `domain_root` is ""; when the request holds the value elsewhere,
    the paths are moved under `field`, and the error keeps its class (its reason for the
    caller)."""
    try:
        yield
    except InvalidArgument as error:
        if field != domain_root:
            error.naming([(_moved(f, domain_root, field), d) for f, d in error.violations])
        raise


def _moved(path: str, root: str, field: str) -> str:
    if not root:
        return field + (path if path.startswith("[") else f".{path}")
    under = path == root or path.startswith((f"{root}.", f"{root}["))
    return field + path[len(root) :] if under else path


def gathered(violations: Violations, convert: Callable[..., T], *args: Any) -> T | None:
    """`convert(*args)`, or None with what it refused added to `violations`, so one answer
    can name every bad field."""
    try:
        return convert(*args)
    except InvalidArgument as error:
        violations += error.violations
        return None


# Times of day and ids.


def microseconds_of(nanos: int) -> int:
    """Nanoseconds as microseconds, rounded away from zero: a sliver under a microsecond
    still counts, so a domain refuses a time or length that is not whole minutes rather
    than never seeing the sliver."""
    whole = -(-abs(nanos) // 1000)
    return whole if nanos >= 0 else -whole


def time_of_day_message(value: time, *, end: bool = False) -> timeofday_pb2.TimeOfDay:
    """A wall-clock time; as an `end`, midnight is the proto's 24:00."""
    if end and value == END_OF_DAY:
        return timeofday_pb2.TimeOfDay(hours=24)
    return timeofday_pb2.TimeOfDay(
        hours=value.hour,
        minutes=value.minute,
        seconds=value.second,
        nanos=value.microsecond * 1000,
    )


def time_of_day_from(message: timeofday_pb2.TimeOfDay, field: str, end: bool = False) -> time:
    """A wall-clock time as given, from 00:00 to 23:59:59.999999, or 24:00 as an `end`
    (END_OF_DAY, as is an end of 00:00). Whether it must be whole minutes is the domain's
    to say, so nanos are kept to the microsecond, rounded up."""
    hours, minutes, seconds, nanos = message.hours, message.minutes, message.seconds, message.nanos
    if end and (hours, minutes, seconds, nanos) == (24, 0, 0, 0):
        return END_OF_DAY
    if not (0 <= hours <= 23 and 0 <= minutes <= 59 and 0 <= seconds <= 59 and 0 <= nanos < 10**9):
        latest = "24:00" if end else "23:59"
        raise InvalidArgument(field, f"must be a time of day from 00:00 to {latest}")
    return time(hours, minutes, seconds, min(microseconds_of(nanos), 999_999))


def _noun(field: str) -> str:
    # "checkout_id" -> "a checkout id", "new_slot_id" -> "a slot id", "intake_id" -> "an
    # intake id".
    name = field.rsplit(".", 1)[-1]
    if not name.endswith("_id"):
        return "an id"
    noun = name.removesuffix("_id").rsplit("_", 1)[-1]
    return f"{'an' if noun.startswith(tuple('aeiou')) else 'a'} {noun} id"


def id_from(text: str, field: str) -> str:
    """An id the service gave out (the noun in the error follows `field`): a UUID in
    canonical lowercase text. Anything else cannot name one, so it is INVALID_ARGUMENT
    here rather than NOT_FOUND from a lookup."""
    if not text:
        raise field_required(field)
    try:
        canonical = str(uuid.UUID(text))
    except ValueError:
        canonical = None
    if canonical != text:
        raise InvalidArgument(field, f"must be {_noun(field)} like {EXAMPLE_ID}")
    return text


# Domain events, as every service translates them for publishing.


def event_proto(translations: Mapping[type, Callable[[Any], T]], event: object) -> T:
    """`event` translated by the entry of `translations` for its type. An event the table
    does not know is a bug (a new event must be mapped on purpose), so it raises rather
    than silently going unpublished."""
    try:
        translate = translations[type(event)]
    except KeyError:
        raise TypeError(f"no proto mapping for event {type(event).__name__}") from None
    return translate(event)


# Money, in nobat.common.v1.Money, the same in every service's protos.


def money_message(money: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=money.amount_minor, currency=money.currency)


def money_from(message: money_pb2.Money, field: str, *, zero_allowed: bool = False) -> Money:
    """An amount as given: parse_amount refuses a currency outside the table (on
    `field.currency`) and an amount not above zero (at or above, with `zero_allowed`, for
    a field whose own rule says whether zero will do) or above the currency's limit (on
    `field.amount_minor`). Signed amounts never come in from callers."""
    if is_unset(message):
        raise FieldRequired(field)
    return parse_amount(message.amount_minor, message.currency, field, zero_allowed=zero_allowed)


def optional_money_from(message: money_pb2.Money, field: str) -> Money | None:
    """For the amounts whose absence means "all of it" (a refund of everything left)."""
    return None if is_unset(message) else money_from(message, field)
