"""Whatever a client sends, every RPC of the four services answers with a status that
means something, and every service keeps serving.

Hypothesis builds each RPC's request from its message descriptor, so an RPC added to a
proto is fuzzed here without a change: text with NUL and other controls, bidirectional
overrides, line breaks, emoji, Persian, up to a megabyte long; bytes that are not UTF-8
where text belongs, and bytes that are no message at all; integers at their type's ends;
enum numbers no enum names; timestamps and dates beyond the calendar; page tokens that are
garbage, or signed with the stack's own secret around a cursor of nonsense; nested and
repeated messages. Each goes in as a caller the RPC lets in (patient, doctor, admin, a
purchasing service), now and then as one it does not, or with no token at all.

No answer may be INTERNAL or UNKNOWN (a failure that escaped its handler) or
DEADLINE_EXCEEDED (a call that hung), and no service may log an error (one no answer
shows, such as a stream failing as it closes). A stream may wait for news past its
deadline, but only once it has let its caller in: one it should have refused at the door
(no token, a role it does not serve, text it does not take, bytes it cannot read) must
say so at once.
NOBAT_FUZZ_EXAMPLES=500 runs more examples an RPC than the default.
"""

from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from google.type import date_pb2, timeofday_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nobat.common.v1 import money_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb

from runtime import auth, errors, wire
from runtime.text import check_text
from stack.local import LOCAL_PAGE_TOKEN_SECRET, SERVICES
from tests.e2e.flows import CONFIRMED, Nobat, key, running_stack
from tests.instants import THURSDAY_NIGHT, stack_instant

pytestmark = pytest.mark.e2e

AT = stack_instant(THURSDAY_NIGHT)
EXAMPLES = int(os.environ.get("NOBAT_FUZZ_EXAMPLES", "20"))
# A stream that has let its caller in waits for news; this long tells a refusal from that.
STREAM_WAIT = 0.5
# A stream that should have refused its caller gets this long to, before it counts as
# hung: a machine busy with other suites can be slower than STREAM_WAIT.
REFUSAL_WAIT = 10
BROKEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}

# Every RPC of every service of the stack, as its proto declares it.
PROTOS = {name: importlib.import_module(f"nobat.{name}.v1.{name}_service_pb2") for name in SERVICES}
SERVICERS = {
    name: importlib.import_module(f"services.{name}.entrypoints.servicer") for name in SERVICES
}
RPCS = [
    (name, service, method)
    for name, proto in PROTOS.items()
    for service in proto.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]

# Who knocks: the subject a token names, its role, and what an ACCESS table lists for it.
CALLERS = {
    "patient": ("patient-fuzz", auth.PATIENT, auth.PATIENT),
    # The doctor the `known` fixture creates, so their reservation is theirs to see.
    "doctor": ("", auth.DOCTOR, auth.DOCTOR),
    "admin": ("admin-fuzz", auth.ADMIN, auth.ADMIN),
    "booking service": ("booking", auth.SERVICE, auth.as_service("booking")),
    "consultation service": ("consultation", auth.SERVICE, auth.as_service("consultation")),
}
ANONYMOUS = "no token"

# Characters with a story: NUL and the other C0 and C1 controls, DEL, line and paragraph
# breaks, the bidi embeddings, overrides and isolates (refused), the marks and joiners
# Persian needs (accepted), a byte-order mark, a zero-width space, an emoji beyond the BMP.
ODD = (
    "\x00\x01\x08\t\n\r\x1b\x7f\x85\x9f\u200b\u200c\u200d\u200e\u200f"
    "\u2028\u2029\u202a\u202e\u2066\u2069\ufeff\ufffd\U0001f600"
)
# Text a field might take, or nearly: codes, zones, instants, ids, addresses, injections.
WORDS = [
    "",
    " ",
    "USD",
    "IRR",
    "usd",
    "XYZ",
    "Asia/Tehran",
    "Mars/Olympus_Mons",
    "en",
    "fa",
    "booking",
    "consultation",
    "wallet_topup",
    "-1",
    "1e308",
    "NaN",
    "2027-03-11",
    "2027-03-11T21:15:00Z",
    "http://localhost/nobat/payment-return",
    "javascript:alert(1)",
    "patient@example.com",
    "+989121234567",
    "' OR '1'='1",
    "%s%n%x",
    "../../etc/passwd",
    "null",
    "سلام دکتر، سرفه\u200cام بدتر شده",  # noqa: RUF001
    wire.EXAMPLE_ID,
    "00000000-0000-0000-0000-000000000000",
    "patient-fuzz",
    "doctor-fuzz",
]
# Bytes no UTF-8 text holds: a lone continuation byte, an overlong slash, a cut-off
# sequence, the surrogates U+D800 and U+DFFF, a code point beyond U+10FFFF.
NOT_UTF8 = [
    b"\xff",
    b"ok\x80",
    b"\xc3\x28",
    b"\xc0\xaf",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
]
INTEGERS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
# Nesting deeper than this is left unset: no request of ours goes further.
MAX_DEPTH = 3

sent: Counter[str] = Counter()


@pytest.fixture(scope="module")
def stack():
    with running_stack(THURSDAY_NIGHT) as stack:
        yield stack


@pytest.fixture(scope="module")
async def known(stack) -> list[str]:
    """Ids of things that exist, for requests to find now and then: a doctor with slots
    (first), a patient's unpaid checkout and its payment, a confirmed reservation with
    that doctor, an intake."""
    nobat = Nobat(stack)
    try:
        doctor_id = await nobat.new_doctor(days=2)
        patient = nobat.patient("patient-fuzz")
        unpaid, paid = (await nobat.free_slots(doctor_id))[:2]
        checkout = await nobat.book(patient, unpaid.id)
        booked = await nobat.book(patient, paid.id)
        await nobat.pay(booked)
        confirmed = await nobat.checkout_until(patient, booked.id, CONFIRMED)
        intake = await patient.consultation.StartIntake(
            cpb.StartIntakeRequest(
                idempotency_key=key(),
                complaint="A dry cough for four days.",
                symptoms=[cpb.ReportedSymptom(code="cough")],
                age_years=34,
            )
        )
        return [
            doctor_id,
            unpaid.id,
            checkout.id,
            checkout.payment_id,
            confirmed.reservation_id,
            intake.intake.id,
        ]
    finally:
        await nobat.close()


@pytest.fixture(scope="module")
def channels(stack):
    opened = {name: stack.channel(name) for name in SERVICES}
    yield opened
    for channel in opened.values():
        channel.close()


@pytest.fixture(scope="module")
def tokens(stack, known) -> dict[tuple[str, str], tuple]:
    """(service, caller) -> the metadata that caller sends to that service."""
    found: dict[tuple[str, str], tuple] = {}
    for service in SERVICES:
        found[service, ANONYMOUS] = ()
        for caller, (subject, role, _) in CALLERS.items():
            ttl = 600 if role == auth.SERVICE else 3600
            token = stack.token(subject or known[0], role, to=service, ttl=ttl)
            found[service, caller] = (("authorization", f"Bearer {token}"),)
    return found


@pytest.fixture(scope="module")
def stack_page_tokens():
    """This process signs page tokens as the stack's services do, to hand them cursors
    of nonsense they must still refuse cleanly."""
    before = wire._page_secret
    wire.sign_page_tokens_with(LOCAL_PAGE_TOKEN_SECRET.encode())
    yield
    wire.sign_page_tokens_with(before)


def _repeated(seed: str, length: int) -> str:
    return (seed * length)[:length]


def texts(words: list[str]) -> st.SearchStrategy[str]:
    """Words a field might take, any text, text thick with ODD characters, ids, and text
    up to a million characters (a few repeated: Hypothesis draws each character it makes,
    so a megabyte of them would be slow to make and to shrink)."""
    long = st.builds(
        _repeated,
        st.text(
            alphabet=st.sampled_from("aZ0 -.\u0633\u0644" + ODD[:3] + "\u202e"),
            min_size=1,
            max_size=4,
        ),
        st.sampled_from([300, 5_000, 70_000, 1_000_000]),
    )
    return st.one_of(
        st.sampled_from(words),
        st.text(max_size=30),
        st.text(alphabet=st.sampled_from(ODD) | st.characters(codec="utf-8"), max_size=12),
        st.uuids().map(str),
        long,
    )


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    ends = [low, low + 1, -1, 0, 1, 100, 101, high - 1, high]
    return st.one_of(st.sampled_from([n for n in ends if low <= n <= high]), st.integers(low, high))


def _instants() -> st.SearchStrategy[timestamp_pb2.Timestamp]:
    around = int(AT.timestamp())
    return st.integers(around - 40 * 86_400, around + 40 * 86_400).map(
        lambda seconds: timestamp_pb2.Timestamp(seconds=seconds)
    )


# Values of the common messages near what a service takes, beside the fully random ones.
LIKELY: Mapping[str, st.SearchStrategy[Message]] = {
    "google.protobuf.Timestamp": _instants(),
    "google.protobuf.Duration": st.integers(-60, 7_200).map(
        lambda seconds: duration_pb2.Duration(seconds=seconds)
    ),
    "google.type.Date": st.dates(
        AT.date() - timedelta(days=40), AT.date() + timedelta(days=40)
    ).map(lambda day: date_pb2.Date(year=day.year, month=day.month, day=day.day)),
    "google.type.TimeOfDay": st.builds(
        timeofday_pb2.TimeOfDay, hours=st.integers(0, 24), minutes=st.sampled_from([0, 30, 59])
    ),
    "nobat.common.v1.Money": st.builds(
        money_pb2.Money,
        amount_minor=st.integers(-10, 200_000_000),
        currency=st.sampled_from(["USD", "IRR", "EUR", "usd", ""]),
    ),
}


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def messages(descriptor: Descriptor, words: list[str], depth: int = 0) -> st.SearchStrategy:
    message_class = GetMessageClass(descriptor)
    if depth > MAX_DEPTH:
        return st.just(message_class())
    fields = {f.name: _field(f, words, depth) for f in descriptor.fields}
    built = st.fixed_dictionaries({}, optional=fields).map(
        lambda values: _build(descriptor, values)
    )
    likely = LIKELY.get(descriptor.full_name)
    return built if likely is None else st.one_of(likely, built)


def _field(field: FieldDescriptor, words: list[str], depth: int) -> st.SearchStrategy:
    if _is_map(field):
        entry = field.message_type.fields_by_name
        return st.dictionaries(
            _value(entry["key"], words, depth), _value(entry["value"], words, depth), max_size=3
        )
    one = _value(field, words, depth)
    return st.lists(one, max_size=3) if field.is_repeated else one


def _value(field: FieldDescriptor, words: list[str], depth: int) -> st.SearchStrategy:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return texts(words)
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return messages(field.message_type, words, depth + 1)
    if kind == FieldDescriptor.TYPE_ENUM:
        named = st.sampled_from([value.number for value in field.enum_type.values])
        if field.enum_type.is_closed:
            return named
        return st.one_of(named, integers(-(2**31), 2**31 - 1))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=32)
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return st.floats()
    if kind == FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32)
    return integers(*INTEGERS[kind])


def _build(descriptor: Descriptor, values: Mapping[str, object]) -> Message:
    message = GetMessageClass(descriptor)()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        held = getattr(message, name)
        if _is_map(field):
            entry_value = field.message_type.fields_by_name["value"]
            for key, item in value.items():  # type: ignore[attr-defined]
                if entry_value.type == FieldDescriptor.TYPE_MESSAGE:
                    held[key].CopyFrom(item)
                else:
                    held[key] = item
        elif field.is_repeated:
            for item in value:  # type: ignore[attr-defined]
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    held.add().CopyFrom(item)
                else:
                    held.append(item)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            held.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def _text_paths(descriptor: Descriptor, depth: int = 0) -> list[tuple[FieldDescriptor, ...]]:
    """Every string field of a message, through its sub-messages (map entries included)."""
    paths: list[tuple[FieldDescriptor, ...]] = []
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            paths.append((field,))
        elif field.type == FieldDescriptor.TYPE_MESSAGE and depth < MAX_DEPTH:
            paths += [(field, *rest) for rest in _text_paths(field.message_type, depth + 1)]
    return paths


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _text_at(path: tuple[FieldDescriptor, ...], raw: bytes) -> bytes:
    """Wire bytes setting the string at `path` to `raw`, which the protobuf library would
    refuse to serialize; appended to a message, they merge into it."""
    for field in reversed(path):
        raw = _varint(field.number << 3 | 2) + _varint(len(raw)) + raw
    return raw


# A cursor's parts as a page token carries them, and some no list ever writes.
CURSOR_PARTS = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.text(max_size=20),
    st.uuids().map(str),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.none(),
)


@st.composite
def requests(draw, method: MethodDescriptor, words: list[str]) -> bytes:
    """The bytes of a request to `method`: a message of its type, or bytes that are not."""
    message = draw(messages(method.input_type, words))
    if "page_token" in method.input_type.fields_by_name and draw(st.booleans()):
        parts = draw(st.lists(CURSOR_PARTS, min_size=1, max_size=3))
        message.page_token = wire.encode_page_token(*parts, scope=wire.list_scope(message))
    raw = message.SerializeToString()
    paths = _text_paths(method.input_type)
    # Mostly messages, which reach the servicers; some not UTF-8, some plain noise.
    shape = draw(st.sampled_from(["message"] * 6 + ["not utf-8"] * bool(paths) + ["noise"]))
    if shape == "not utf-8":
        return raw + _text_at(draw(st.sampled_from(paths)), draw(st.sampled_from(NOT_UTF8)))
    if shape == "noise":
        return draw(st.binary(min_size=1, max_size=40))
    return raw


def callers(service: str, method: MethodDescriptor) -> st.SearchStrategy[str]:
    """Mostly a caller the RPC lets in, so requests get past the door; sometimes anyone."""
    access = SERVICERS[service].ACCESS[method.name]
    allowed = [caller for caller, (_, _, grant) in CALLERS.items() if grant in access]
    anyone = [ANONYMOUS, *CALLERS]
    return st.one_of(*[st.sampled_from(allowed)] * 3, st.sampled_from(anyone))


def let_in(service: str, method: MethodDescriptor, caller: str, raw: bytes) -> bool:
    """Whether the interceptor lets this call through to the servicer."""
    if caller == ANONYMOUS or CALLERS[caller][2] not in SERVICERS[service].ACCESS[method.name]:
        return False
    try:
        request = GetMessageClass(method.input_type).FromString(raw)
        check_text(request, getattr(SERVICERS[service], "MULTI_LINE", frozenset()))
    except (DecodeError, errors.InvalidArgument):
        return False
    return True


def answer(
    channel: grpc.Channel,
    path: str,
    method: MethodDescriptor,
    raw: bytes,
    metadata,
    wait: float = STREAM_WAIT,
):
    """The status code and message of one call with `raw` as the request's bytes; a
    stream is read up to its first message, for `wait` seconds at most."""
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path)(raw, metadata=metadata, timeout=wait)
            try:
                next(stream, None)
            finally:
                stream.cancel()
        else:
            channel.unary_unary(path)(raw, metadata=metadata, timeout=20)
    except grpc.RpcError as error:
        return error.code(), error.details()
    return grpc.StatusCode.OK, ""


def logged_errors(stack) -> list[str]:
    """What the services logged at ERROR or worse: an INTERNAL answer's failure, or one
    no answer shows."""
    found = []
    for name, handle in stack.services.items():
        for line in handle.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("level") in ("ERROR", "CRITICAL"):
                found.append(f"{name}: {record.get('message')} {record.get('exc_info', '')}")
    return found


def serving(stack) -> dict[str, str]:
    found = {}
    for name in SERVICES:
        with stack.channel(name) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            found[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return found


@pytest.mark.parametrize(
    ("service", "rpc", "method"), RPCS, ids=[f"{s}.{m.name}" for s, _, m in RPCS]
)
def test_no_request_breaks_an_rpc_or_its_service(
    stack, channels, tokens, known, stack_page_tokens, service, rpc, method
):
    path = f"/{rpc.full_name}/{method.name}"
    words = WORDS + known + [f.name for f in method.input_type.fields]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(raw=requests(method, words), caller=callers(service, method))
    def no_answer_is_broken(raw: bytes, caller: str) -> None:
        metadata = tokens[service, caller]
        code, details = answer(channels[service], path, method, raw, metadata)
        past_the_door = let_in(service, method, caller, raw)
        if (
            method.server_streaming
            and code == grpc.StatusCode.DEADLINE_EXCEEDED
            and not past_the_door
        ):
            code, details = answer(channels[service], path, method, raw, metadata, REFUSAL_WAIT)
        sent[path] += 1
        waiting = (
            method.server_streaming and code == grpc.StatusCode.DEADLINE_EXCEEDED and past_the_door
        )
        assert waiting or code not in BROKEN, f"{method.name} as {caller}: {code.name} {details}"

    no_answer_is_broken()
    assert not stack.exited()
    assert serving(stack) == dict.fromkeys(SERVICES, "SERVING")
    assert logged_errors(stack) == []


def test_every_service_still_serves_after_every_rpc_was_fuzzed(stack):
    assert serving(stack) == dict.fromkeys(SERVICES, "SERVING")
    assert logged_errors(stack) == []
    print(f"{sum(sent.values())} generated requests over {len(sent)} RPCs")
