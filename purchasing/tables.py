"""The columns of a checkout's payment progress, the same in booking's and consultation's
checkouts tables (their migrations made them alike), and the row form of that progress."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.schema import SchemaItem

from purchasing.checkout import Checkout, CheckoutStatus, PaymentFailure, PaymentMethod
from runtime.columns import all_or_none, instant, one_of


def payment_progress() -> tuple[SchemaItem, ...]:
    """How the checkout is being paid: by which method, at which attempt of which payment,
    what failed, which payments came twice, and when it last changed."""
    return (
        Column("method", Text, one_of("method", PaymentMethod), nullable=False),
        Column("status", Text, one_of("status", CheckoutStatus), nullable=False),
        Column("attempt", Integer, CheckConstraint("attempt > 0"), nullable=False),
        Column("payment_id", Text),
        Column("attempt_id", Text),
        Column("checkout_url", Text),
        Column("failure_code", Text),
        Column("failure_message", Text),
        Column("failure_retryable", Boolean),
        # Payments confirmed after this checkout was settled by another, in arrival order.
        Column("duplicate_payment_ids", ARRAY(Text), nullable=False, server_default=text("'{}'")),
        instant("created_at", nullable=False),
        instant("updated_at", nullable=False),
        all_or_none("failure_code", "failure_message", "failure_retryable"),
    )


def payment_progress_row(checkout: Checkout) -> dict:
    failure = checkout.payment_failure
    return {
        "method": checkout.method.value,
        "status": checkout.status.value,
        "attempt": checkout.attempt,
        "payment_id": checkout.payment_id,
        "attempt_id": checkout.attempt_id,
        "checkout_url": checkout.checkout_url,
        "failure_code": failure.code if failure else None,
        "failure_message": failure.message if failure else None,
        "failure_retryable": failure.retryable if failure else None,
        "duplicate_payment_ids": list(checkout.duplicate_payment_ids),
        "created_at": checkout.created_at,
        "updated_at": checkout.updated_at,
    }


def payment_progress_of(row) -> dict:
    """The keyword arguments of a checkout's payment progress, from its row."""
    return {
        "method": PaymentMethod(row["method"]),
        "status": CheckoutStatus(row["status"]),
        "attempt": row["attempt"],
        "payment_id": row["payment_id"],
        "attempt_id": row["attempt_id"],
        "checkout_url": row["checkout_url"],
        "payment_failure": (
            PaymentFailure(row["failure_code"], row["failure_message"], row["failure_retryable"])
            if row["failure_code"] is not None
            else None
        ),
        "duplicate_payment_ids": tuple(row["duplicate_payment_ids"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
