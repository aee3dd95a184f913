"""Stripe's form encoding: nested keys in brackets, lists as numbered keys.

`line_items[0][price_data][unit_amount]=500&expand[]=payment_intent` becomes
`{"line_items": [{"price_data": {"unit_amount": "500"}}], "expand": ["payment_intent"]}`.
Values stay strings, as they arrive; each endpoint reads them as the type it expects.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from sandbox.errors import invalid_param

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(text: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise invalid_param(key, f"Invalid parameter name: {key}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _put(tree, path, value, key)
    return _listed(tree)


def _put(tree: dict[str, Any], path: list[str], value: str, key: str) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(_index(node, part), {})
        if not isinstance(child, dict):
            raise invalid_param(key, f"Invalid parameter: {key} mixes a value and a hash")
        node = child
    last = _index(node, path[-1])
    if last in node:
        raise invalid_param(key, f"Invalid parameter: {key} is given twice")
    node[last] = value


def _index(node: dict[str, Any], part: str) -> str:
    # `expand[]=a&expand[]=b` appends, as Rails-style encodings do.
    return str(len(node)) if part == "" else part


def _listed(node: Any) -> Any:
    """Hashes keyed 0..n-1 become lists, in index order."""
    if not isinstance(node, dict):
        return node
    items = {key: _listed(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        indexes = sorted(items, key=int)
        if [int(key) for key in indexes] == list(range(len(indexes))):
            return [items[key] for key in indexes]
    return items


def read_hash(value: Any, param: str, allowed: set[str]) -> dict[str, Any]:
    """A nested hash with only the keys Stripe knows there: an unknown key is refused, as
    Stripe refuses it, so a misspelt parameter cannot pass the sandbox unnoticed."""
    if not isinstance(value, dict):
        raise invalid_param(param, f"Invalid object: {param} must be a hash")
    for key in value:
        if key not in allowed:
            name = f"{param}[{key}]" if param else key
            raise invalid_param(name, f"Received unknown parameter: {name}", "parameter_unknown")
    return value


def read_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise invalid_param(param, f"Invalid string: {param} must be a string")
    return value


def read_int(value: Any, param: str) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]+", value):
        raise invalid_param(param, f"Invalid integer: {value}", "parameter_invalid_integer")
    return int(value)


def read_metadata(value: Any, param: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or len(value) > 50:
        raise invalid_param(param, f"Invalid {param}: a hash of at most 50 keys")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 40 or len(item) > 500:
            raise invalid_param(
                f"{param}[{key}]", "Metadata keys are up to 40 characters, values strings of 500"
            )
    return dict(value)
