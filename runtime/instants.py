"""Instants are aware UTC datetimes everywhere in nobat.

Domains compare and add to them; arithmetic on a datetime in a zone with daylight
saving would quietly be wall-clock arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime


def require_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is not UTC:
        raise ValueError(f"{name} must be an aware datetime in UTC, not {value!r}")
    return value
