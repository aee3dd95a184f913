"""A small PromQL parser: enough to tell whether an alert's or a panel's expression is
well formed and what it reads, offline (there is no promtool here).

It covers the language nobat's rules and dashboard use, and checks what Prometheus would
refuse at load time: the syntax (selectors and their matchers, functions, aggregations
with `by`/`without`, binary operators with `bool`, `on`/`ignoring` and `group_*`, range
and subquery brackets, `offset`), that a function is one Prometheus has and gets the
number and kinds of arguments it takes (a range where `rate` needs one, say), and that
the whole is an instant vector or a scalar. `parse` returns the selectors it found, so
the tests can check each metric named is one nobat exports.

Checked once against Prometheus's own parser (@prometheus-io/lezer-promql 0.315.0, the
one its UI uses) on every expression in deploy/monitoring; this module is what runs in
`make test`, without node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SCALAR, VECTOR, MATRIX, STRING = "scalar", "instant vector", "range vector", "string"

# Function name -> the kinds of its arguments and the kind it returns.
_FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    **{
        name: ((MATRIX,), VECTOR)
        for name in (
            "rate",
            "irate",
            "increase",
            "delta",
            "idelta",
            "deriv",
            "changes",
            "resets",
            "absent_over_time",
            "present_over_time",
            *(
                f"{agg}_over_time"
                for agg in ("avg", "min", "max", "sum", "count", "last", "stddev", "stdvar")
            ),
        )
    },
    **{
        name: ((VECTOR,), VECTOR)
        for name in (
            "abs",
            "absent",
            "ceil",
            "floor",
            "exp",
            "ln",
            "log2",
            "log10",
            "sqrt",
            "sort",
            "sort_desc",
            "timestamp",
            "round",
        )
    },
    "histogram_quantile": ((SCALAR, VECTOR), VECTOR),
    "quantile_over_time": ((SCALAR, MATRIX), VECTOR),
    "predict_linear": ((MATRIX, SCALAR), VECTOR),
    "clamp_min": ((VECTOR, SCALAR), VECTOR),
    "clamp_max": ((VECTOR, SCALAR), VECTOR),
    "clamp": ((VECTOR, SCALAR, SCALAR), VECTOR),
    "label_replace": ((VECTOR, STRING, STRING, STRING, STRING), VECTOR),
    "scalar": ((VECTOR,), SCALAR),
    "vector": ((SCALAR,), VECTOR),
    "time": ((), SCALAR),
}
# Arguments a function may be called without.
_OPTIONAL = {"round": 1}

_AGGREGATIONS = {
    "sum": None,
    "min": None,
    "max": None,
    "avg": None,
    "count": None,
    "group": None,
    "stddev": None,
    "stdvar": None,
    "topk": SCALAR,
    "bottomk": SCALAR,
    "quantile": SCALAR,
    "count_values": STRING,
}

# Loosest first; "^" binds tightest and to the right.
_PRECEDENCE = (
    ("or",),
    ("and", "unless"),
    ("==", "!=", "<=", "<", ">=", ">"),
    ("+", "-"),
    ("*", "/", "%", "atan2"),
    ("^",),
)
_COMPARISONS = {"==", "!=", "<=", "<", ">=", ">"}
_SET_OPERATORS = {"and", "or", "unless"}

# A name may hold colons (recording rules' level:metric:operation) but, unlike
# Prometheus's, not start with one here, so a subquery's `[5m:1m]` reads right.
_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+|(?i:inf|nan)\b)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=(){}\[\],:@])
    """,
    re.VERBOSE,
)


class PromQLError(ValueError):
    pass


@dataclass(frozen=True)
class Selector:
    metric: str
    # (label, operator, value) for each matcher, the metric's own name excluded.
    matchers: tuple[tuple[str, str, str], ...] = ()


@dataclass
class Parsed:
    kind: str
    selectors: list[Selector] = field(default_factory=list)


def _tokens(text: str) -> list[tuple[str, str]]:
    found, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise PromQLError(f"unexpected character {text[at]!r} at {at}")
        at = match.end()
        if match.lastgroup != "space":
            found.append((match.lastgroup, match.group()))
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.selectors: list[Selector] = []
        self.selector_end = -1

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        at = self.at + ahead
        return self.tokens[at] if at < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        token_kind, token = self.peek()
        if (value is not None and token != value) or (kind is not None and token_kind != kind):
            raise PromQLError(f"expected {value or kind}, found {token or 'the end'!r}")
        self.at += 1
        return token

    def taking(self, value: str) -> bool:
        if self.peek()[1] == value:
            self.at += 1
            return True
        return False

    def expression(self, level: int = 0) -> str:
        if level == len(_PRECEDENCE):
            return self.unary()
        left = self.expression(level + 1)
        while self.peek()[1] in _PRECEDENCE[level] and self.peek()[0] in ("op", "ident"):
            operator = self.take()
            returns_bool = self.taking("bool")
            if returns_bool and operator not in _COMPARISONS:
                raise PromQLError(f"bool after {operator}, which is no comparison")
            self.vector_matching()
            # "^" is right-associative: its right side may hold another "^".
            right = self.expression(level if operator == "^" else level + 1)
            left = self.binary(operator, left, right, returns_bool)
        return left

    def vector_matching(self) -> None:
        if self.taking("on") or self.taking("ignoring"):
            self.labels()
        grouping = self.taking("group_left") or self.taking("group_right")
        if grouping and self.peek()[1] == "(":
            self.labels()

    def binary(self, operator: str, left: str, right: str, returns_bool: bool) -> str:
        for side in (left, right):
            if side not in (SCALAR, VECTOR):
                raise PromQLError(f"{operator} of a {side}")
        if operator in _SET_OPERATORS and SCALAR in (left, right):
            raise PromQLError(f"{operator} needs instant vectors on both sides")
        if operator in _COMPARISONS and left == right == SCALAR and not returns_bool:
            raise PromQLError("comparing two scalars needs bool")
        return VECTOR if VECTOR in (left, right) else SCALAR

    def unary(self) -> str:
        if self.peek()[1] in ("-", "+"):
            self.take()
            kind = self.unary()
            if kind not in (SCALAR, VECTOR):
                raise PromQLError(f"unary minus of a {kind}")
            return kind
        return self.postfix(self.primary())

    def postfix(self, kind: str) -> str:
        while True:
            if self.peek()[1] == "[":
                after_selector = self.at == self.selector_end
                self.take("[")
                self.take(kind="duration")
                if self.taking(":"):
                    if self.peek()[0] == "duration":
                        self.take()
                    if kind != VECTOR:
                        raise PromQLError("a subquery needs an instant vector")
                elif not after_selector:
                    raise PromQLError("a range needs a selector (or a subquery's colon)")
                self.take("]")
                kind = MATRIX
            elif self.taking("offset"):
                self.taking("-")
                self.take(kind="duration")
            elif self.taking("@"):
                if not (self.taking("start") or self.taking("end")):
                    self.take(kind="number")
                else:
                    self.take("(")
                    self.take(")")
            else:
                return kind

    def primary(self) -> str:
        kind, token = self.peek()
        if kind == "number":
            self.take()
            return SCALAR
        if kind == "string":
            self.take()
            return STRING
        if token == "(":
            self.take("(")
            inner = self.expression()
            self.take(")")
            return inner
        if token == "{":
            return self.selector("")
        if kind != "ident":
            raise PromQLError(f"unexpected {token or 'end'!r}")
        if token in _AGGREGATIONS and self.peek(1)[1] in ("(", "by", "without"):
            return self.aggregation()
        if self.peek(1)[1] == "(":
            return self.call()
        return self.selector(self.take())

    def selector(self, metric: str) -> str:
        matchers = []
        if self.taking("{"):
            while not self.taking("}"):
                label = self.take(kind="ident")
                operator = self.take()
                if operator not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"{operator!r} is no label matcher")
                value = self.take(kind="string")[1:-1]
                if operator in ("=~", "!~"):
                    try:
                        re.compile(value)
                    except re.error as exc:
                        raise PromQLError(f"bad regex {value!r}: {exc}") from None
                matchers.append((label, operator, value))
                if not self.taking(","):
                    self.take("}")
                    break
        if not metric and not any(op in ("=", "=~") and value for _, op, value in matchers):
            raise PromQLError("a selector needs a metric name or a non-empty matcher")
        self.selectors.append(Selector(metric, tuple(matchers)))
        # A range's "[" may follow only this token: `abs(x)[5m]` is no range.
        self.selector_end = self.at
        return VECTOR

    def labels(self) -> list[str]:
        self.take("(")
        names = []
        while not self.taking(")"):
            names.append(self.take(kind="ident"))
            if not self.taking(","):
                self.take(")")
                break
        return names

    def arguments(self) -> list[str]:
        self.take("(")
        kinds = []
        while not self.taking(")"):
            kinds.append(self.expression())
            if not self.taking(","):
                self.take(")")
                break
        return kinds

    def call(self) -> str:
        name = self.take()
        if name not in _FUNCTIONS:
            raise PromQLError(f"unknown function {name}")
        wanted, returns = _FUNCTIONS[name]
        given = self.arguments()
        optional = _OPTIONAL.get(name, 0)
        if not len(wanted) <= len(given) <= len(wanted) + optional:
            raise PromQLError(f"{name} takes {len(wanted)} arguments, given {len(given)}")
        # The optional ones (round's "to nearest") are scalars.
        expected = [*wanted, *[SCALAR] * optional]
        for number, (kind, want) in enumerate(zip(given, expected, strict=False), 1):
            if kind != want:
                raise PromQLError(f"{name}'s argument {number} must be a {want}, not a {kind}")
        return returns

    def aggregation(self) -> str:
        name = self.take()
        if self.peek()[1] in ("by", "without"):
            self.take()
            self.labels()
        given = self.arguments()
        wanted = [VECTOR] if _AGGREGATIONS[name] is None else [_AGGREGATIONS[name], VECTOR]
        if given != wanted:
            raise PromQLError(f"{name} takes ({', '.join(wanted)}), given ({', '.join(given)})")
        if self.peek()[1] in ("by", "without"):
            self.take()
            self.labels()
        return VECTOR


def parse(text: str) -> Parsed:
    """The expression's kind and its selectors; PromQLError if Prometheus would refuse it
    (or it uses what this parser does not know)."""
    parser = _Parser(text)
    if not parser.tokens:
        raise PromQLError("empty expression")
    kind = parser.expression()
    if parser.peek()[0] != "end":
        raise PromQLError(f"unexpected {parser.peek()[1]!r} after a complete expression")
    return Parsed(kind, parser.selectors)
