"""The invariants of ../shared/DESIGN.md, checked against the databases and streams of a
running nobat: every violation found, named for the rule it breaks.

It only reads. Run it on a settled system (after the outboxes drain and consumers catch
up): a payment confirmed a second ago may not have its record yet, and is reported.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from runtime.events import BOOKING, CONSULTATION, PAYMENT
from runtime.wiring import OBSERVER, inbox_prefix

# Each purchasing context's records, with the payment that bought them.
RECORDS = {"booking": "reservations", "consultation": "clinical_sessions"}
CAPTURED = frozenset({"succeeded", "refund_pending", "refunded", "partially_refunded"})


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.subject}: {self.detail}"


async def _rows(url: str, sql: str) -> list:
    # The checks read every service's data; an error's text names the rule, not the rows.
    engine = create_async_engine(url, hide_parameters=True)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql)))
    finally:
        await engine.dispose()


async def check(databases: Mapping[str, str], nats_url: str | None = None) -> list[Violation]:
    """`databases` maps service names to their database URLs (payment's is required)."""
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
            "   AS refunded"
            " FROM payments p",
        )
    }
    records: dict[str, list] = defaultdict(list)
    contexts = set()
    for service, table in RECORDS.items():
        if service not in databases:
            continue
        [(exists,)] = await _rows(databases[service], f"SELECT to_regclass('{table}')")
        if exists is None:
            continue  # a context not built yet
        contexts.add(service)
        sql = f"SELECT id, payment_id, price_minor, currency FROM {table}"
        for record in await _rows(databases[service], sql):
            records[record.payment_id].append((service, record))
    found += _records_paid_for(payments, records)
    found += _one_outcome(payments, records, contexts)
    found += await _money(payment)
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
        found += await _consumer_backlog(nats_url)
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


def _one_outcome(payments: Mapping, records: Mapping, contexts: set[str]) -> list[Violation]:
    """Invariant 2: every confirmed payment has exactly one record, or a full refund."""
    found = []
    for payment in payments.values():
        if payment.confirmed_attempt_id is None or payment.purchase_kind not in contexts:
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


async def _consumer_backlog(nats_url: str) -> list[Violation]:
    """Every durable consumer has caught up: nothing pending, nothing unacknowledged."""
    nc = await nats.connect(nats_url, max_reconnect_attempts=1, inbox_prefix=inbox_prefix(OBSERVER))
    found = []
    try:
        js = nc.jetstream()
        for stream in (PAYMENT, BOOKING, CONSULTATION):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                for consumer in await js.consumers_info(stream.name):
                    if not consumer.config.durable_name:
                        continue
                    backlog = consumer.num_pending + consumer.num_ack_pending
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
