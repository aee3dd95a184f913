"""Several writes as one statement: each a data-modifying WITH of one query.

A round trip to PostgreSQL costs this machine about as much CPU as the statement it
carries, on both sides of the socket; a use case's writes (a booking's reservation, its
slot, its checkout and two outbox rows) went one round trip each. Written as the parts
of one statement, they go in one, with the same effect: PostgreSQL runs every
data-modifying WITH to completion, checks foreign keys and fires AFTER triggers at the
statement's end, and an error in any part fails the whole.

What a statement of parts cannot do, runtime.sql keeps out of one (`clashes`): two
parts in it do not see each other's rows, so none may write a table another part
writes, unless both only append rows of their own (INSERTs without ON CONFLICT).

This module is the text: a compiled statement split into its own WITH's queries and
its body, with its positional parameters ($1...) numbered again from an offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# A piece of SQL text, or the index (from 0) of a positional parameter.
Piece = str | int

_CTE_HEAD = re.compile(r"(\w+)\s+AS\s+(?:(?:NOT\s+)?MATERIALIZED\s+)?\(", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_WRITTEN = re.compile(
    r"\bINSERT\s+INTO\s+\"?(\w+)|\bUPDATE\s+(?!SET\b)\"?(\w+)|\bDELETE\s+FROM\s+\"?(\w+)",
    re.IGNORECASE,
)


class Unsupported(ValueError):
    """SQL this module will not split (a recursive WITH, dollar quoting): it runs alone."""


@dataclass(frozen=True)
class Part:
    """One write, ready to be a part of a statement of several."""

    queries: tuple[tuple[Piece, ...], ...]  # its WITH's "name AS (...)", in order
    body: tuple[Piece, ...]  # the INSERT, UPDATE or DELETE itself
    names: frozenset[str]  # its WITH's names
    tables: frozenset[str]  # the tables it writes
    appends: bool  # it only INSERTs, with no ON CONFLICT: rows of its own
    parameters: int

    @classmethod
    def of(cls, sql: str, parameters: int) -> Part:
        queries, body = _split_with(sql.strip())
        split = tuple(_pieces(query, parameters) for query in queries)
        names = frozenset(_CTE_HEAD.match(query).group(1).lower() for query in queries)  # type: ignore[union-attr]
        tables = frozenset(
            (insert or update or delete).lower() for insert, update, delete in _WRITTEN.findall(sql)
        )
        if not tables:
            raise Unsupported("writes no table")
        kinds = {word.upper() for word in re.findall(r"\b(INSERT|UPDATE|DELETE)\b", sql, re.I)}
        appends = kinds == {"INSERT"} and not re.search(r"\bON\s+CONFLICT\b", sql, re.I)
        return cls(split, _pieces(body, parameters), names, tables, appends, parameters)

    def clashes(self, other: Part) -> bool:
        """True if the two cannot be parts of one statement."""
        if self.names & other.names:
            return True
        shared = self.tables & other.tables
        return bool(shared) and not (self.appends and other.appends)


def joined(parts: Sequence[Part]) -> str:
    """The statement whose parts are `parts`, their parameters one after the other."""
    queries: list[str] = []
    offset = 0
    for index, part in enumerate(parts):
        queries.extend(_text(query, offset) for query in part.queries)
        queries.append(f"_part{index} AS ({_text(part.body, offset)})")
        offset += part.parameters
    return "WITH " + ", ".join(queries) + " SELECT 1"


def _text(pieces: tuple[Piece, ...], offset: int) -> str:
    return "".join(
        piece if isinstance(piece, str) else f"${piece + offset + 1}" for piece in pieces
    )


def _split_with(sql: str) -> tuple[list[str], str]:
    """A statement's WITH queries ("name AS (...)") and its body."""
    if not re.match(r"WITH\s", sql, re.IGNORECASE):
        return [], sql
    position = 4
    queries = []
    while True:
        start = _skip_space(sql, position)
        head = _CTE_HEAD.match(sql, start)
        if head is None or head.group(1).upper() == "RECURSIVE":
            raise Unsupported("a WITH this module does not read")
        end = _closing(sql, head.end())
        queries.append(sql[start : end + 1])
        position = _skip_space(sql, end + 1)
        if sql[position] != ",":
            return queries, sql[position:]
        position += 1


def _skip_space(sql: str, position: int) -> int:
    while position < len(sql) and sql[position].isspace():
        position += 1
    return position


def _outside_quotes(sql: str, position: int) -> Iterator[tuple[int, str]]:
    """Each character of `sql` from `position` on that is outside quotes, with its index;
    a doubled quote inside a quoted string ends and reopens it, which reads the same."""
    quote = None
    for index in range(position, len(sql)):
        char = sql[index]
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        else:
            yield index, char


def _closing(sql: str, position: int) -> int:
    """The index of the parenthesis that closes the one opened just before `position`."""
    depth = 1
    for index, char in _outside_quotes(sql, position):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    raise Unsupported("unbalanced parentheses")


def _pieces(sql: str, parameters: int) -> tuple[Piece, ...]:
    """The text with each $n outside quotes as its index."""
    pieces: list[Piece] = []
    start = 0
    for index, char in _outside_quotes(sql, 0):
        if char != "$" or index < start:
            continue
        digits = _DIGITS.match(sql, index + 1)
        if digits is None:
            raise Unsupported("dollar quoting")
        number = int(digits.group())
        if not 1 <= number <= parameters:
            raise Unsupported(f"${number} of {parameters} parameters")
        pieces.extend((sql[start:index], number - 1))
        start = index + 1 + len(digits.group())
    pieces.append(sql[start:])
    return tuple(piece for piece in pieces if piece != "")
