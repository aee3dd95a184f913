"""What the services' tables are built of: instants, enums held as text, and optional values
stored as several columns. Tables mirror the migrations (which own the schema), so the
checks here document the rules the queries can rely on."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from sqlalchemy import CheckConstraint, Column, DateTime


def instant(name: str, nullable: bool = True) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def sql_list(values: Iterable[str]) -> str:
    """Text values as the list of an SQL IN (...): only ever the code's own constants."""
    return ", ".join(f"'{value}'" for value in values)


def one_of(column: str, values: type[Enum]) -> CheckConstraint:
    """The column holds one of the enum's values (or NULL, where the column allows it)."""
    return CheckConstraint(f"{column} IN ({sql_list(v.value for v in values)})")


def all_or_none(*columns: str) -> CheckConstraint:
    """The columns are set together or not at all: the parts of one optional value."""
    first = f"({columns[0]} IS NULL)"
    return CheckConstraint(" AND ".join(f"{first} = ({other} IS NULL)" for other in columns[1:]))
