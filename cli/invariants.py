"""The invariants of ../shared/DESIGN.md, checked against the databases and streams of a
running nobat: every violation found, named for the rule it breaks.

It only reads. Run it on a settled system (after the outboxes drain and consumers catch
up): a payment confirmed a second ago may not have its record yet, and is reported.
"""

from __future__ import annotations

import contextlib
import ssl
from collections import defaultdict
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from purchasing.kinds import KINDS, VOIDING_REASONS
from runtime.columns import sql_list
from runtime.db import connect_args
from runtime.events import BOOKING, CONSULTATION, PAYMENT
from runtime.tls import TlsSettings
from runtime.wiring import OBSERVER, inbox_prefix

CAPTURED = frozenset({"succeeded", "refund_pending", "refunded", "partially_refunded"})


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.subject}: {self.detail}"

    def as_json(self) -> dict[str, str]:
        return asdict(self)


# TLS to the databases for the check under way (`check`'s `tls`): one setting for every
# read, rather than a parameter threaded through each rule's helper.
_database_tls: ContextVar[ssl.SSLContext | None] = ContextVar("database_tls", default=None)


async def _rows(url: str, sql: str) -> list:
    # The checks read every service's data; an error's text names the rule, not the rows.
    engine = create_async_engine(
        url, hide_parameters=True, connect_args=connect_args(_database_tls.get())
    )
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql)))
    finally:
        await engine.dispose()


async def check(
    databases: Mapping[str, str], nats_url: str | None = None, tls: TlsSettings | None = None
) -> list[Violation]:
    """`databases` maps service names to their database URLs (payment's is required);
    `tls`, when given, is how to reach the databases and NATS (runtime.tls)."""
    tls = tls or TlsSettings()
    token = _database_tls.set(tls.database_context())
    try:
        return await _check(databases, nats_url, tls)
    finally:
        _database_tls.reset(token)


async def _check(
    databases: Mapping[str, str], nats_url: str | None, tls: TlsSettings
) -> list[Violation]:
    found: list[Violation] = []
    payment = databases["payment"]
    payments = {
        row.id: row
        for row in await _rows(
            payment,
            "SELECT p.id, p.purchase_kind, p.purchase_ref, p.amount_minor, p.currency,"
            " p.status, p.confirmed_attempt_id,"
            " coalesce((SELECT sum(r.amount_minor) FROM refunds r WHERE r.payment_id = p.id"
            "   AND r.capture_id = p.confirmed_attempt_id AND r.status = 'succeeded'), 0)"
            "   AS refunded,"
            " (SELECT string_agg(DISTINCT r.reason, ',') FROM refunds r WHERE r.payment_id = p.id"
            f"   AND r.reason IN ({sql_list(VOIDING_REASONS)})) AS voided_for"
            " FROM payments p",
        )
    }
    records: dict[str, list] = defaultdict(list)
    # The kinds whose records could be read: a service not given, or not built yet, is
    # left out rather than reported as having none.
    readable = set()
    for kind in KINDS.values():
        if kind.records is None or kind.service not in databases:
            continue
        url = databases[kind.service]
        [(exists,)] = await _rows(url, f"SELECT to_regclass('{kind.records}')")
        if exists is None:
            continue
        readable.add(kind.name)
        sql = f"SELECT id, payment_id, price_minor, currency FROM {kind.records}"
        for record in await _rows(url, sql):
            records[record.payment_id].append((kind.service, record))
    found += _records_paid_for(payments, records)
    found += _one_outcome(payments, records, readable)
    found += await _payouts_of_record(databases, payments, readable)
    found += await _released_when_voided(databases, payments, readable)
    found += await _money(payment)
    found += await _disputes(payment, payments)
    found += await _monotonic(payment)
    if "booking" in databases:
        for row in await _rows(
            databases["booking"],
            "SELECT slot_id, count(*) FROM reservations WHERE status = 'confirmed'"
            " GROUP BY slot_id HAVING count(*) > 1",
        ):
            found.append(Violation("no double booking", f"slot {row[0]}", f"{row[1]} active"))
    for service, url in databases.items():
        (unpublished,) = (
            await _rows(url, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        )[0]
        if unpublished:
            found.append(Violation("outbox drains", service, f"{unpublished} unpublished"))
    if nats_url:
        nats_tls = tls.identity.client_context() if tls.identity else None
        found += await _consumer_backlog(nats_url, nats_tls)
    return found


def _records_paid_for(payments: Mapping, records: Mapping) -> list[Violation]:
    """Invariant 1: a record exists only for a payment confirmed for its price."""
    found = []
    for payment_id, held in records.items():
        for service, record in held:
            paid = payments.get(payment_id)
            subject = f"{service} record {record.id}"
            if paid is None or paid.confirmed_attempt_id is None:
                found.append(Violation("no record without payment", subject, "not paid"))
            elif (paid.amount_minor, paid.currency) != (record.price_minor, record.currency):
                found.append(
                    Violation(
                        "no record without payment",
                        subject,
                        f"paid {paid.amount_minor} {paid.currency}, priced "
                        f"{record.price_minor} {record.currency}",
                    )
                )
    return found


def _one_outcome(payments: Mapping, records: Mapping, readable: set[str]) -> list[Violation]:
    """Invariant 2: every confirmed payment has exactly one record, or a full refund; one
    of a kind nobody registered (purchasing/kinds.py) has no way to either."""
    found = []
    for payment in payments.values():
        if payment.confirmed_attempt_id is None:
            continue
        if payment.purchase_kind not in KINDS:
            found.append(
                Violation(
                    "one outcome per confirmed payment",
                    f"payment {payment.id}",
                    f"unresolved: no purchasing context knows kind {payment.purchase_kind!r}",
                )
            )
            continue
        if payment.purchase_kind not in readable:
            continue
        count = len(records.get(payment.id, ()))
        fully_refunded = payment.refunded == payment.amount_minor
        if count > 1 or (count == 0 and not fully_refunded):
            found.append(
                Violation(
                    "one outcome per confirmed payment",
                    f"payment {payment.id}",
                    f"{count} records, refunded {payment.refunded} of {payment.amount_minor}",
                )
            )
    return found


async def _released_when_voided(
    databases: Mapping[str, str], payments: Mapping, readable: set[str]
) -> list[Violation]:
    """Invariant 1 after the fact: a payment that payment itself refunded in full (an early
    fraud warning, purchasing/kinds.py's VOIDING_REASONS) leaves no live record behind,
    since nobody keeps what they no longer paid for."""
    found = []
    for kind in KINDS.values():
        if kind.live_records is None or kind.name not in readable:
            continue
        for (payment_id,) in await _rows(databases[kind.service], kind.live_records):
            paid = payments.get(payment_id)
            if paid is None or not paid.voided_for or paid.refunded != paid.amount_minor:
                continue
            found.append(
                Violation(
                    "no record without payment",
                    f"{kind.service} record of payment {payment_id}",
                    f"still live, though payment refunded it in full for {paid.voided_for}",
                )
            )
    return found


async def _payouts_of_record(
    databases: Mapping[str, str], payments: Mapping, readable: set[str]
) -> list[Violation]:
    """Every held or released payout belongs to the doctor of record of its purchase: the
    one doing the work now. A payout moved on, or reversed by a refund, owes nobody."""
    doctors: dict[str, str | None] = {}
    for sold in KINDS.values():
        if sold.doctors_of_record is not None and sold.name in readable:
            rows = await _rows(databases[sold.service], sold.doctors_of_record)
            doctors.update({payment_id: doctor_id for payment_id, doctor_id in rows})
    found = []
    for payout_id, payment_id, doctor_id, status in await _rows(
        databases["payment"],
        "SELECT id, payment_id, doctor_id, status FROM payouts"
        " WHERE status IN ('held', 'released')",
    ):
        kind = KINDS.get(payments[payment_id].purchase_kind)
        if kind is None or kind.doctors_of_record is None or kind.name not in readable:
            continue
        of_record = doctors.get(payment_id)
        if doctor_id != of_record:
            found.append(
                Violation(
                    "payouts belong to the doctor of record",
                    f"payout {payout_id}",
                    f"{status} for {doctor_id}; the doctor of record is "
                    f"{of_record or 'nobody (the platform)'}",
                )
            )
    return found


async def _money(url: str) -> list[Violation]:
    """Invariant 4: balanced transactions, wallets never negative and matching the
    ledger, refunds never above captures, payout parts adding up."""
    checks = {
        "ledger balances": "SELECT transaction_id || ' ' || currency, sum(amount_minor)"
        " FROM ledger_entries GROUP BY transaction_id, currency HAVING sum(amount_minor) <> 0",
        "wallet never negative": "SELECT patient_id || ' ' || currency, balance_minor"
        " FROM wallets WHERE balance_minor < 0",
        "wallet matches ledger": "SELECT w.patient_id || ' ' || w.currency,"
        " w.balance_minor + coalesce((SELECT sum(e.amount_minor) FROM ledger_entries e"
        "  WHERE e.account_kind = 'patient_wallet' AND e.owner_id = w.patient_id"
        "  AND e.currency = w.currency), 0) FROM wallets w"
        " WHERE w.balance_minor + coalesce((SELECT sum(e.amount_minor) FROM ledger_entries e"
        "  WHERE e.account_kind = 'patient_wallet' AND e.owner_id = w.patient_id"
        "  AND e.currency = w.currency), 0) <> 0",
        "refunded at most captured": "SELECT a.id, sum(r.amount_minor) - a.captured_minor"
        " FROM payment_attempts a JOIN refunds r ON r.capture_id = a.id"
        " AND r.status = 'succeeded' GROUP BY a.id, a.captured_minor"
        " HAVING sum(r.amount_minor) > a.captured_minor",
        "fee parts add up": "SELECT id, gross_minor - platform_fee_minor - gateway_fee_minor"
        " - net_minor FROM payouts"
        " WHERE gross_minor <> platform_fee_minor + gateway_fee_minor + net_minor",
    }
    found = []
    for invariant, sql in checks.items():
        for subject, off in await _rows(url, sql):
            found.append(Violation(invariant, str(subject), f"off by {off}"))
    return found


async def _disputes(url: str, payments: Mapping) -> list[Violation]:
    """A dispute is a case on a confirmed payment; while open, the gateway's withdrawal
    sits in the disputed account and the payment's payouts stay held; once lost, the
    payment's payouts were never paid out (released) after it opened."""
    [(exists,)] = await _rows(url, "SELECT to_regclass('disputes')")
    if exists is None:
        return []
    found = []
    rows = await _rows(
        url,
        "SELECT d.id, d.payment_id, d.status, d.withdrawn, d.amount_minor,"
        " coalesce((SELECT sum(e.amount_minor) FROM ledger_entries e"
        "   JOIN ledger_transactions t ON t.id = e.transaction_id"
        "   WHERE t.payment_id = d.payment_id AND e.account_kind = 'disputed'), 0)::bigint"
        " AS disputed,"
        " (SELECT count(*) FROM payouts p WHERE p.payment_id = d.payment_id"
        "   AND p.status = 'released' AND p.released_at >= d.opened_at) AS paid_out"
        " FROM disputes d",
    )
    for row in rows:
        subject = f"dispute {row.id}"
        paid = payments.get(row.payment_id)
        if paid is None or paid.confirmed_attempt_id is None:
            found.append(Violation("disputes are of confirmed payments", subject, "not paid"))
        held = row.amount_minor if row.status == "open" and row.withdrawn else 0
        if row.disputed != held:
            found.append(
                Violation(
                    "disputed money sits in the disputed account",
                    subject,
                    f"{row.status}: {row.disputed} disputed, {held} expected",
                )
            )
        if row.status != "won" and row.paid_out:
            found.append(
                Violation(
                    "a disputed payment's payouts are held",
                    subject,
                    f"{row.status}: {row.paid_out} payouts released after it opened",
                )
            )
    return found


async def _monotonic(url: str) -> list[Violation]:
    """A payment never moves back from having money in it to asking for payment."""
    history: dict[str, list[str]] = defaultdict(list)
    for payment_id, status in await _rows(
        url, "SELECT payment_id, status FROM payment_statuses ORDER BY id"
    ):
        history[payment_id].append(status)
    found = []
    for payment_id, statuses in history.items():
        captured_at = next((i for i, s in enumerate(statuses) if s in CAPTURED), None)
        if captured_at is not None and any(s not in CAPTURED for s in statuses[captured_at:]):
            found.append(Violation("payment states move forward", payment_id, " → ".join(statuses)))
    return found


async def _consumer_backlog(nats_url: str, tls: ssl.SSLContext | None) -> list[Violation]:
    """Every durable consumer has caught up: nothing pending, nothing unacknowledged."""
    nc = await nats.connect(
        nats_url, max_reconnect_attempts=1, inbox_prefix=inbox_prefix(OBSERVER), tls=tls
    )
    found = []
    try:
        js = nc.jetstream()
        for stream in (PAYMENT, BOOKING, CONSULTATION):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                for consumer in await js.consumers_info(stream.name):
                    if not consumer.config.durable_name:
                        continue
                    # nats-py leaves a count None when the server's answer lacks it.
                    backlog = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
                    if backlog:
                        found.append(
                            Violation(
                                "consumers drain",
                                f"{stream.name}/{consumer.name}",
                                f"{consumer.num_pending} pending, "
                                f"{consumer.num_ack_pending} unacknowledged",
                            )
                        )
    finally:
        await nc.close()
    return found
