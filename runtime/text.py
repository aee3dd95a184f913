"""The characters a request's text may hold, checked once for every RPC of every service.

The gRPC interceptor (runtime.rpc) walks every string of a request, found through its
message descriptors (nested messages, repeated fields and maps included), before any
handler runs, and refuses the call as INVALID_ARGUMENT naming each field that holds:

- a control character (Unicode Cc: NUL and the rest of C0, DEL, C1). PostgreSQL cannot
  store NUL at all, and none of them has a place in a name, an id, a code or a URL. A
  field that takes what a person writes in sentences (a chat message, a complaint, a
  doctor's notes, a reason; each service names its own with `multi_line`) may also hold
  line breaks and tabs: \\n, \\r, \\t and the line and paragraph separators U+2028/9.
- a bidirectional formatting character: the embeddings and overrides U+202A-U+202E and
  the isolates U+2066-U+2069. They change the order in which the text around them is
  shown, so a name or a chat line could display as something it does not say ("Dr. ‮...")
  and could reorder the notification it is quoted in. Persian and mixed Persian-Latin
  text lays out right without them; the marks that only nudge a neutral character
  (U+200E LRM, U+200F RLM, U+061C ALM) and the joiners Persian spelling needs (U+200C
  ZWNJ, U+200D ZWJ) are accepted. Refused rather than stripped: the text kept would not
  be the text sent (nor match its idempotency key's request), and an app that inserts
  them learns so on its first call instead of showing its users altered text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from runtime.errors import InvalidArgument

_BIDI = "\u202a-\u202e\u2066-\u2069"
_LINE_BREAKS = "\t\n\r\u2028\u2029"
# What one line of text may not hold, and what text of several lines may not.
_REFUSED_IN_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_REFUSED_IN_LINES = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
_BIDI_CHARACTER = re.compile(f"[{_BIDI}]")


def multi_line(message: type[Message], *fields: str) -> frozenset[str]:
    """The full names of `message`'s `fields` that take text of several lines, for the
    interceptor; a name the message lacks stops the service at start (KeyError)."""
    descriptor = message.DESCRIPTOR
    return frozenset(descriptor.fields_by_name[name].full_name for name in fields)


def check_text(request: Message, multi_line: Collection[str] = frozenset()) -> None:
    """Raises InvalidArgument naming every string field of `request` with a character it
    may not hold (see the module's docstring); `multi_line`: full names of the fields
    that may span lines."""
    violations = [
        (path, _refusal(found, path_field.full_name in multi_line))
        for path, path_field, value in _strings(request, "")
        if (found := _refused(value, path_field.full_name in multi_line)) is not None
    ]
    if violations:
        raise InvalidArgument.many(violations)


def _refused(value: str, lines: bool) -> str | None:
    match = (_REFUSED_IN_LINES if lines else _REFUSED_IN_ONE_LINE).search(value)
    return match.group() if match else None


def _refusal(character: str, lines: bool) -> str:
    code = f"U+{ord(character):04X}"
    if _BIDI_CHARACTER.fullmatch(character):
        return (
            f"must not contain bidirectional embedding, override or isolate characters "
            f"(found {code})"
        )
    if not lines and character in _LINE_BREAKS:
        return f"must be a single line (found {code})"
    return f"must not contain control characters (found {code})"


def _strings(message: Message, prefix: str) -> Iterator[tuple[str, FieldDescriptor, str]]:
    """(path, field, text) of every string set anywhere in `message`, paths as errors
    name them: lines[0].description, channels[1].address, fields["key"]."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if _is_map(field):
            yield from _map_strings(field, value, path)
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from _value_strings(field, item, f"{path}[{index}]")
        else:
            yield from _value_strings(field, value, path)


def _value_strings(
    field: FieldDescriptor, value: object, path: str
) -> Iterator[tuple[str, FieldDescriptor, str]]:
    if field.type == FieldDescriptor.TYPE_STRING:
        yield path, field, value  # type: ignore[misc]
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        yield from _strings(value, f"{path}.")  # type: ignore[arg-type]


def _map_strings(
    field: FieldDescriptor, entries, path: str
) -> Iterator[tuple[str, FieldDescriptor, str]]:
    entry = field.message_type
    assert entry is not None, "a map field's entries are messages"
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    for key, value in entries.items():
        at = f"{path}[{json.dumps(key) if isinstance(key, str) else key}]"
        yield from _value_strings(key_field, key, at)
        yield from _value_strings(value_field, value, at)


def _is_map(field: FieldDescriptor) -> bool:
    entry = field.message_type
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and entry is not None
        and entry.GetOptions().map_entry
    )
