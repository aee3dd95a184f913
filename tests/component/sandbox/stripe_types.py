"""Checks JSON against the official `stripe` SDK's own types: the fields its classes
declare and the values their Literal annotations allow.

The SDK is generated from Stripe's OpenAPI description, so its classes are Stripe's
published schema in Python: a field the class does not declare, a null where the type
is not Optional, or a value outside a Literal enum is something real Stripe never
sends. Stripe's enums are open in the SDK (`Union[Literal[...], str]`, so a new value
does not break old code); here the Literal is taken as the whole list, which is the
point: the sandbox may send only what Stripe documents today.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Mapping
from typing import Any, ForwardRef, Literal, Union, get_args, get_origin

import stripe
from stripe._stripe_object import StripeObject

# Nested classes are found by walking these: a forward reference names a top-level one.
_NAMESPACES = (stripe, stripe.checkout, stripe.radar)


def error_codes() -> frozenset[str]:
    """Every error code Stripe documents, as the SDK lists them for an intent's error."""
    return frozenset(literals(stripe.PaymentIntent.LastPaymentError.__annotations__["code"]))


def event_types() -> frozenset[str]:
    return frozenset(literals(stripe.Event.__annotations__["type"]))


def literals(annotation: Any) -> set[Any]:
    """The values of every Literal in an annotation, however deeply it is nested."""
    if get_origin(annotation) is Literal:
        return set(get_args(annotation))
    found: set[Any] = set()
    for arm in get_args(annotation):
        found |= literals(arm)
    return found


def fields(cls: type) -> dict[str, Any]:
    """The annotated fields of an SDK class, its bases' included."""
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if issubclass(klass, StripeObject) and klass is not StripeObject:
            merged.update(vars(klass).get("__annotations__", {}))
    merged.pop("OBJECT_NAME", None)
    return merged


def problems(value: Any, cls: type, path: str) -> list[str]:
    """How `value`, the JSON of one object, differs from the SDK class `cls`."""
    if not isinstance(value, Mapping):
        return [f"{path}: {type(value).__name__}, not an object"]
    declared = fields(cls)
    found = []
    for name, item in value.items():
        if name not in declared:
            found.append(f"{path}.{name}: not a field of {cls.__qualname__}")
        else:
            found += _check(item, declared[name], cls, f"{path}.{name}")
    return found


def _check(value: Any, annotation: Any, owner: type, path: str) -> list[str]:
    annotation = _resolve(annotation, owner)
    origin = get_origin(annotation)
    if annotation is Any:
        return []
    if origin is Union:
        arms = [arm for arm in get_args(annotation) if arm is not type(None)]
        if value is None:
            nullable = len(arms) < len(get_args(annotation))
            return [] if nullable else [f"{path}: null, but the field is not Optional"]
        allowed = literals(annotation)
        if allowed and isinstance(value, str) and value not in allowed:
            return [f"{path}: {value!r} is none of {sorted(allowed)}"]
        attempts = [_check(value, arm, owner, path) for arm in arms]
        return [] if any(not attempt for attempt in attempts) else attempts[0]
    if value is None:
        return [f"{path}: null, but the field is not Optional"]
    if origin is Literal:
        return [] if value in get_args(annotation) else [f"{path}: {value!r} not allowed"]
    if origin in (list, typing.List):  # noqa: UP006 - the SDK annotates with typing.List
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        (item,) = get_args(annotation)
        return [p for i, v in enumerate(value) for p in _check(v, item, owner, f"{path}[{i}]")]
    if origin is not None and isinstance(origin, type) and issubclass(origin, StripeObject):
        # UntypedStripeObject[...] (metadata, previous_attributes): any object.
        return [] if isinstance(value, Mapping) else [f"{path}: not an object"]
    if isinstance(annotation, type):
        if issubclass(annotation, StripeObject):
            return problems(value, annotation, path)
        if annotation is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif annotation is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, annotation)
        return [] if ok else [f"{path}: {value!r} is not {annotation.__name__}"]
    return [f"{path}: cannot check against {annotation!r}"]


def _resolve(annotation: Any, owner: type) -> Any:
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    if isinstance(annotation, ForwardRef):
        name = annotation.__forward_arg__
        module = sys.modules[owner.__module__]
        for namespace in (module, *_NAMESPACES):
            if hasattr(namespace, name):
                return getattr(namespace, name)
        raise LookupError(f"{name} (in {owner.__qualname__}) is no SDK class")
    return annotation
