"""A past of N paid bookings, written straight into payment's and booking's databases.

Every historical booking is what the real path leaves behind, row for row: in payment a
succeeded intent with its attempt, status history, balanced ledger transaction, held
payout, webhook event, published PaymentConfirmed and the inbox row of the booking's
PurchaseFulfilled; in booking a doctor's past slot, its confirmed checkout and
reservation, the published PurchaseFulfilled and ReservationConfirmed, and the inbox row
of the PaymentConfirmed. Ids match across the two databases (payment i pays checkout i).

The history fits the last few weeks (payouts are still held, so no release is owed),
appointments are all in the past, and each table is filled by one INSERT … SELECT over
generate_series. It is built once into template databases and copied in by every run
until the schema, this file, the size or the week changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from datetime import UTC, date, datetime, timedelta

import asyncpg
from google.protobuf.message import Message
from nobat.booking.v1 import events_pb2 as booking_events
from nobat.payment.v1 import events_pb2 as payment_events

from bench import say
from bench.servers import Cluster
from runtime.events import BOOKING, PAYMENT, Stream
from services.booking.domain.checkout import Checkout
from stack.local import ROOT

TEMPLATES = {"payment": "bench_history_payment", "booking": "bench_history_booking"}
SCHEMA_FILES = (
    "bench/history.py",
    "runtime/schema.py",
    "runtime/alembic/versions/*.py",
    "services/payment/adapters/tables.py",
    "services/payment/migrations/*.py",
    "services/booking/adapters/tables.py",
    "services/booking/migrations/*.py",
)

# Per historical doctor; 30-minute slots, so the history spans about ten days of visits.
SLOTS_PER_DOCTOR = 500
FEE = 50_000
GATEWAY_FEE = 1_480
PLATFORM_FEE = 1_500
NET = FEE - GATEWAY_FEE - PLATFORM_FEE

# Expressions of the row number i (0-based); in the statements $1 stands for the number
# of rows, $2 for the number of doctors and $3 for the first slot's start.
PAYMENT_ID = "md5('hist/payment/' || i)::uuid::text"
ATTEMPT_ID = "md5('hist/attempt/' || i)::uuid::text"
CHECKOUT_ID = "md5('hist/checkout/' || i)::uuid::text"
RESERVATION_ID = "md5('hist/reservation/' || i)::uuid::text"
SLOT_ID = "md5('hist/slot/' || i)::uuid::text"
LEDGER_ID = "md5('hist/ledger/' || i)::uuid::text"
PAYOUT_ID = "md5('hist/payout/' || i)::uuid::text"
CONFIRMED_EVENT = "md5('hist/payment-confirmed/' || i)::uuid"
FULFILLED_EVENT = "md5('hist/purchase-fulfilled/' || i)::uuid"
RESERVED_EVENT = "md5('hist/reservation-confirmed/' || i)::uuid"
DOCTOR = "'hist-doctor-' || (i % $2)"
PATIENT = "'hist-patient-' || (i % 50000)"
STARTS = "($3::timestamptz + (i / $2) * interval '30 minutes')"
CREATED = f"({STARTS} - interval '2 days')"
CONFIRMED = f"({CREATED} + interval '1 minute')"
SESSION = "'cs_hist_' || i"
SERIES = "FROM generate_series(0, $1 - 1) AS i"
PAYLOAD = "convert_to(rpad({}, 280, '.'), 'UTF8')"


def _headers(event: str, event_type: str) -> str:
    return (
        f"jsonb_build_object('Nats-Msg-Id', {event}::text, 'Nobat-Event-Type', '{event_type}',"
        f" 'Nobat-Correlation-Id', {CHECKOUT_ID})"
    )


def _outbox(event: str, message: type[Message], publisher: Stream, kind: str = "") -> str:
    """`kind`: the purchase's, on a stream whose subjects name it (runtime.events)."""
    event_type, subject = message.DESCRIPTOR.full_name, publisher.subject_for(message, kind)
    return f"""
    INSERT INTO outbox (event_id, event_type, subject, payload, headers, created_at, published_at)
    SELECT {event}, '{event_type}', '{subject}', {PAYLOAD.format(PAYMENT_ID)},
           {_headers(event, event_type)}, {CONFIRMED}, {CONFIRMED} + interval '20 ms'
    {SERIES}"""


PAYMENT_SQL = [
    # The five postings of a confirmed gateway payment, as post_confirmation makes them.
    f"""
    INSERT INTO ledger_entries (transaction_id, account_kind, owner_id, amount_minor, currency)
    SELECT {LEDGER_ID}, e.kind, CASE WHEN e.owned THEN {DOCTOR} ELSE '' END, e.amount, 'USD'
    {SERIES} CROSS JOIN (VALUES
        (0, 'gateway_clearing', false, {FEE}),
        (1, 'gateway_clearing', false, {-GATEWAY_FEE}),
        (2, 'gateway_fees', false, {GATEWAY_FEE}),
        (3, 'doctor_payable', true, {-NET}),
        (4, 'platform_revenue', false, {-(PLATFORM_FEE + GATEWAY_FEE)})
    ) AS e (n, kind, owned, amount)
    ORDER BY i, e.n""",
    f"""
    INSERT INTO payments (id, purchase_kind, purchase_ref, patient_id, amount_minor, currency,
        lines, method, status, return_url, description, confirmed_attempt_id, created_at,
        expires_at, confirmed_at, updated_at, fulfilled_at)
    SELECT {PAYMENT_ID}, 'booking', {CHECKOUT_ID}, {PATIENT}, {FEE}, 'USD',
           jsonb_build_array(jsonb_build_object('payee', 'doctor', 'payee_id', {DOCTOR},
               'description', 'Appointment', 'amount_minor', {FEE})),
           'gateway', 'succeeded', 'http://localhost/nobat/booking-return', 'Appointment',
           {ATTEMPT_ID}, {CREATED}, {CREATED} + interval '2 hours', {CONFIRMED},
           {CONFIRMED} + interval '1 second', {CONFIRMED} + interval '1 second'
    {SERIES}""",
    f"""
    INSERT INTO payment_attempts (id, payment_id, number, method, status, gateway_ref,
        checkout_url, captured_minor, captured_currency, created_at, settled_at)
    SELECT {ATTEMPT_ID}, {PAYMENT_ID}, 1, 'gateway', 'succeeded', {SESSION},
           'http://127.0.0.1/checkout/' || {SESSION}, {FEE}, 'USD', {CREATED}, {CONFIRMED}
    {SERIES}""",
    f"""
    INSERT INTO payment_statuses (payment_id, status, at)
    SELECT {PAYMENT_ID}, s.status, CASE WHEN s.n = 0 THEN {CREATED} ELSE {CONFIRMED} END
    {SERIES} CROSS JOIN (VALUES (0, 'processing'), (1, 'succeeded')) AS s (n, status)
    ORDER BY i, s.n""",
    f"""
    INSERT INTO ledger_transactions (id, memo, payment_id, created_at)
    SELECT {LEDGER_ID}, 'payment_confirmed', {PAYMENT_ID}, {CONFIRMED}
    {SERIES}""",
    f"""
    INSERT INTO payouts (id, doctor_id, payment_id, line, currency, earned_gross_minor,
        earned_platform_fee_minor, earned_gateway_fee_minor, earned_net_minor, gross_minor,
        platform_fee_minor, gateway_fee_minor, net_minor, status, earned_at, release_at,
        assignment)
    SELECT {PAYOUT_ID}, {DOCTOR}, {PAYMENT_ID}, 0, 'USD',
           {FEE}, {PLATFORM_FEE}, {GATEWAY_FEE}, {NET}, {FEE}, {PLATFORM_FEE}, {GATEWAY_FEE}, {NET},
           'held', {CONFIRMED}, {CONFIRMED} + interval '30 days', 0
    {SERIES}""",
    f"""
    INSERT INTO webhook_events (event_id, event_type, payment_id, received_at)
    SELECT 'evt_hist_' || i, 'checkout.session.completed', {PAYMENT_ID},
           {CONFIRMED} - interval '50 ms'
    {SERIES}""",
    _outbox(CONFIRMED_EVENT, payment_events.PaymentConfirmed, PAYMENT, Checkout.PURCHASE_KIND),
    f"""
    INSERT INTO inbox (consumer, event_id, received_at)
    SELECT 'payment', {FULFILLED_EVENT}::text, {CONFIRMED} + interval '1 second'
    {SERIES}""",
    f"""
    INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at)
    SELECT 'CreatePayment/booking', {CHECKOUT_ID}, sha256(convert_to({CHECKOUT_ID}, 'UTF8')),
           {PAYLOAD.format(PAYMENT_ID)}, {CREATED}
    {SERIES}""",
]

BOOKING_SQL = [
    """
    INSERT INTO doctors (id, display_name, specialty, time_zone, fee_minor, currency, active,
        updated_at)
    SELECT 'hist-doctor-' || d, 'Dr. History ' || d, 'general', 'UTC', 50000, 'USD', true,
           $3::timestamptz - interval '30 days'
    FROM generate_series(0, $2 - 1) AS d""",
    """
    INSERT INTO availabilities (doctor_id, windows, slot_length_seconds, first_date, last_date,
        updated_at)
    SELECT 'hist-doctor-' || d,
           (SELECT jsonb_agg(jsonb_build_object('day_of_week', w, 'start_minute', 0,
                'end_minute', 1440)) FROM generate_series(1, 7) AS w), 1800,
           ($3::timestamptz - interval '30 days')::date, ($3::timestamptz)::date + 30,
           $3::timestamptz - interval '30 days'
    FROM generate_series(0, $2 - 1) AS d""",
    f"""
    INSERT INTO slots (id, doctor_id, starts_at, ends_at, reservation_id, withdrawn)
    SELECT {SLOT_ID}, {DOCTOR}, {STARTS}, {STARTS} + interval '30 minutes', {RESERVATION_ID},
           false
    {SERIES}""",
    f"""
    INSERT INTO checkouts (id, slot_id, doctor_id, patient_id, price_minor, currency, method,
        status, attempt, payment_id, attempt_id, checkout_url, reservation_id, hold_expires_at,
        created_at, updated_at)
    SELECT {CHECKOUT_ID}, {SLOT_ID}, {DOCTOR}, {PATIENT}, {FEE}, 'USD', 'gateway', 'confirmed',
           1, {PAYMENT_ID}, {ATTEMPT_ID}, 'http://127.0.0.1/checkout/' || {SESSION},
           {RESERVATION_ID}, {CREATED} + interval '10 minutes', {CREATED}, {CONFIRMED}
    {SERIES}""",
    f"""
    INSERT INTO reservations (id, slot_id, doctor_id, patient_id, starts_at, ends_at,
        price_minor, currency, checkout_id, payment_id, confirmed_at, status)
    SELECT {RESERVATION_ID}, {SLOT_ID}, {DOCTOR}, {PATIENT}, {STARTS},
           {STARTS} + interval '30 minutes', {FEE}, 'USD', {CHECKOUT_ID}, {PAYMENT_ID},
           {CONFIRMED}, 'confirmed'
    {SERIES}""",
    _outbox(FULFILLED_EVENT, payment_events.PurchaseFulfilled, BOOKING),
    _outbox(RESERVED_EVENT, booking_events.ReservationConfirmed, BOOKING),
    f"""
    INSERT INTO inbox (consumer, event_id, received_at)
    SELECT 'booking', {CONFIRMED_EVENT}::text, {CONFIRMED}
    {SERIES}""",
    f"""
    INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at)
    SELECT 'StartCheckout/' || {PATIENT}, md5('hist/key/' || i),
           sha256(convert_to({CHECKOUT_ID}, 'UTF8')), {PAYLOAD.format(CHECKOUT_ID)}, {CREATED}
    {SERIES}""",
]

# What the skipped balance trigger would have refused.
LEDGER_CHECK = """
    SELECT count(*) FROM (SELECT 1 FROM ledger_entries
    GROUP BY transaction_id, currency HAVING sum(amount_minor) <> 0) AS off"""


def first_start(now: datetime | None = None) -> datetime:
    """The first historical slot: early enough that the last ends well before now."""
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(days=16)


def fingerprint(rows: int, today: date | None = None) -> str:
    """What a built history depends on: its size, this file, the two schemas, and the
    week: a history kept longer would have payouts due, which a job would then release."""
    week = (today or date.today()).isocalendar()[:2]
    digest = hashlib.sha256(f"{rows} {week}".encode())
    for path in sorted(path for pattern in SCHEMA_FILES for path in ROOT.glob(pattern)):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


async def prepare(cluster: Cluster, rows: int) -> tuple[bool, float]:
    """Template databases holding `rows` of history, built unless the ones there were built
    for the same size and schema. Returns (built now, seconds taken)."""
    wanted = fingerprint(rows)
    conn = await asyncpg.connect(cluster.dsn("postgres"))
    try:
        found = await conn.fetch(
            "SELECT d.datname, shobj_description(d.oid, 'pg_database') AS note"
            " FROM pg_database d WHERE d.datname = ANY($1::text[])",
            list(TEMPLATES.values()),
        )
    finally:
        await conn.close()
    if len(found) == len(TEMPLATES) and all(row["note"] == wanted for row in found):
        return False, 0.0
    started = time.monotonic()
    say(f"history: building {rows:,} paid bookings (once a week; a few minutes)…")
    for template in TEMPLATES.values():
        await cluster.execute(
            f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)', f'CREATE DATABASE "{template}"'
        )
    await asyncio.gather(
        *(asyncio.to_thread(cluster.migrate, *service) for service in TEMPLATES.items())
    )
    say("history: databases migrated")
    await _build({name: cluster.dsn(template) for name, template in TEMPLATES.items()}, rows)
    # Closed to connections, so that not even autovacuum is in one when a run copies it;
    # marked only once complete, so that an interrupted build is built again next time.
    await cluster.execute(
        *(
            f'ALTER DATABASE "{template}" WITH ALLOW_CONNECTIONS false;'
            f" COMMENT ON DATABASE \"{template}\" IS '{wanted}'"
            for template in TEMPLATES.values()
        )
    )
    return True, time.monotonic() - started


async def install(cluster: Cluster) -> None:
    """Payment's and booking's databases become copies of the history (file copies: fast,
    where WAL-logging gigabytes would not be)."""
    await cluster.execute(
        *(f'DROP DATABASE IF EXISTS "nobat_{service}" WITH (FORCE)' for service in TEMPLATES),
        *(
            f'CREATE DATABASE "nobat_{service}" TEMPLATE "{template}" STRATEGY FILE_COPY'
            for service, template in TEMPLATES.items()
        ),
    )


async def _build(dsns: dict[str, str], rows: int) -> None:
    """Loads into bare tables, then builds their keys and indexes (sorted builds are many
    times faster than a million random inserts into each index), then adds the foreign
    keys back, which checks every reference. Two workers, one per core, share the
    statements of both databases."""
    doctors = max(1, -(-rows // SLOTS_PER_DOCTOR))
    start = first_start()
    schemas = {name: await _strip(dsn) for name, dsn in dsns.items()}
    filling = {"payment": PAYMENT_SQL, "booking": BOOKING_SQL}
    await _parallel(
        {name: [_bind(sql, rows, doctors, start) for sql in filling[name]] for name in dsns},
        dsns,
        "rows loaded",
    )
    await _parallel({name: schema[0] for name, schema in schemas.items()}, dsns, "keys and indexes")
    await _parallel({name: schema[1] for name, schema in schemas.items()}, dsns, "foreign keys")
    say("history: checking that every ledger transaction balances…")
    conn = await asyncpg.connect(dsns["payment"])
    try:
        if found := await conn.fetchval(LEDGER_CHECK):
            raise RuntimeError(f"the history is inconsistent: {found} unbalanced transactions")
    finally:
        await conn.close()
    vacuums = {
        name: [f"VACUUM ANALYZE {table}" for table in schema[2]] for name, schema in schemas.items()
    }
    await _parallel(vacuums, dsns, "tables vacuumed and analysed")


async def _strip(dsn: str) -> tuple[list[str], list[str], list[str]]:
    """Drops every key and index of the database's tables; returns what puts them back:
    the keys and indexes, then the foreign keys, and the tables' names."""
    conn = await asyncpg.connect(dsn)
    try:
        keys = await conn.fetch(
            "SELECT conrelid::regclass::text AS tab, conname, contype::text AS contype,"
            " pg_get_constraintdef(oid) AS definition FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f')"
        )
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        async with conn.transaction():
            for index in indexes:
                await conn.execute(f'DROP INDEX "{index["indexname"]}"')
            for key in sorted(keys, key=lambda key: key["contype"] != "f"):
                await conn.execute(f'ALTER TABLE {key["tab"]} DROP CONSTRAINT "{key["conname"]}"')
    finally:
        await conn.close()

    def add(key: asyncpg.Record) -> str:
        return f'ALTER TABLE {key["tab"]} ADD CONSTRAINT "{key["conname"]}" {key["definition"]}'

    return (
        [add(key) for key in keys if key["contype"] != "f"] + [i["indexdef"] for i in indexes],
        [add(key) for key in keys if key["contype"] == "f"],
        [table["tablename"] for table in tables],
    )


async def _parallel(
    statements: dict[str, list[str]], dsns: dict[str, str], what: str, workers: int = 2
) -> None:
    """Runs each database's statements, each in a transaction of its own, `workers` at a
    time; the databases' lists are taken in turns, so both cores stay busy to the end.
    Says how far it has got, as `what`, after each statement."""
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for turn in itertools.zip_longest(*(statements[name] for name in dsns)):
        for name, sql in zip(dsns, turn, strict=True):
            if sql is not None:
                queue.put_nowait((dsns[name], sql))
    total, done = queue.qsize(), 0

    async def work() -> None:
        nonlocal done
        conns: dict[str, asyncpg.Connection] = {}
        try:
            while not queue.empty():
                dsn, sql = queue.get_nowait()
                if dsn not in conns:
                    conns[dsn] = await asyncpg.connect(dsn)
                    # The ledger's balance trigger would run a query per entry; the rows
                    # balance by construction, and LEDGER_CHECK proves it.
                    await conns[dsn].execute(
                        "SET synchronous_commit = off; SET maintenance_work_mem = '256MB';"
                        " SET session_replication_role = replica"
                    )
                await conns[dsn].execute(sql)
                done += 1
                say(f"history: {what}, {done} of {total} steps")
        finally:
            for conn in conns.values():
                await conn.close()

    await asyncio.gather(*(work() for _ in range(workers)))


def _bind(sql: str, rows: int, doctors: int, start: datetime) -> str:
    """Our own numbers and instant, written into the text: one simple query each."""
    return (
        sql.replace("$1", str(int(rows)))
        .replace("$2", str(int(doctors)))
        .replace("$3", f"'{start.isoformat()}'")
    )
